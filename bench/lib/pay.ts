/** Request bodies shared by the Pay sections and the floor, so both sign and send the same bytes. */
const RUN = Date.now().toString(36);
let seq = 0;

export function createOrderV3Body(): string {
  return JSON.stringify({
    env: { terminalType: 'WEB' },
    merchantTradeNo: `B${RUN}${++seq}`,
    orderAmount: '25.17',
    currency: 'USDT',
    description: 'Ice cream',
    goodsDetails: [
      {
        goodsType: '01',
        goodsCategory: 'D000',
        referenceGoodsId: '7876763A3B',
        goodsName: 'Ice Cream',
        goodsDetail: 'Vanilla',
      },
    ],
    returnUrl: 'https://shop.example/ok',
  });
}
