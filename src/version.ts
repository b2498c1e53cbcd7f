// The generator's version, stamped into every artifact so a node says what wrote its files.
export const GENERATOR_VERSION = '0.1.0';
