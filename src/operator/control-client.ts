/** The XEP-0325 client moved to src/iot/control-client.ts (the hub's dashboard uses it too); kept for importers. */
export * from '../iot/control-client.js';
