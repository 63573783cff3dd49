import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import type { Logger } from '../../platform/logger.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { Catalog } from '../catalog.ts';
import type { ConnectOrders } from '../orders/service.ts';
import type { PartnerService } from '../partners.ts';
import type { PreOrders } from './preorder.ts';
import type { Gen2Sandbox } from './sandbox.ts';

/** The gen-2 partner API (binance-connect-v2.md) under /papi/v1/ramp/connect/ (and /papi/v2/... for one op). */
export function registerGen2Routes(
  app: FastifyInstance,
  deps: {
    partners: PartnerService;
    catalog: Catalog;
    prices: PriceSource;
    orders: ConnectOrders;
    preOrders: PreOrders;
    sandbox: Gen2Sandbox;
    config: Config;
    logger: Logger;
  },
) {
  void app;
  void deps;
}
