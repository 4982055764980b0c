/** Simulated hardware for tests, the demo and CI: each emulator speaks the real interface of its device. */

export { encodeLine, type LineValues, lineSerialProtocol, startLineSerialSim } from './serial/line-serial.js';
export { encodeMhz19, type Mhz19Values, mhz19Protocol, startMhz19Sim } from './serial/mhz19.js';
export {
  encodeGps,
  type GpsValues,
  nmeaGpsProtocol,
  nmeaSentence,
  startNmeaGpsSim,
} from './serial/nmea-gps.js';
export { encodePms5003, type Pms5003Values, pms5003Protocol, startPms5003Sim } from './serial/pms5003.js';
export { type PtyPair, type PtyPairOptions, startPtyPair } from './serial/pty.js';
export { encodeSds011, type Sds011Values, sds011Protocol, startSds011Sim } from './serial/sds011.js';
export {
  type Curve,
  curves,
  type Faults,
  type Scenario,
  type SerialSim,
  startSerialSim,
  type WireProtocol,
} from './serial/sim.js';
