import pino from 'pino';

export type Logger = pino.Logger;

/** Paths whose values never reach a log line: credentials, card data, KYC identity fields. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["binancepay-signature"]',
  'req.headers["x-api-signature"]',
  'req.headers["x-sha2-signature"]',
  'res.headers["set-cookie"]',
  '*.apiSecret',
  '*.secret',
  '*.password',
  '*.passwordHash',
  '*.privateKeyPem',
  '*.token',
  '*.authorizationToken',
  '*.cardNumber',
  '*.pan',
  '*.cvv',
  '*.cvc',
  '*.firstName',
  '*.lastName',
  '*.middleName',
  '*.dob',
  '*.idNumber',
  '*.address',
  '*.email',
];

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, base: { service: 'rampart' } },
    destination as pino.DestinationStream,
  );
}
