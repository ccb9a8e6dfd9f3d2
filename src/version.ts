/** clawback's version, written into every snapshot manifest. */
export const VERSION = '0.1.0';
