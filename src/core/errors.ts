/**
 * One error class per failure kind, each with a stable `code` that users and tests match on
 * (the undici habit). The table in docs/errors.md says when each occurs and what to check.
 */
export type IotErrorCode =
  | 'IOT_ERR_CONFIG'
  | 'IOT_ERR_DEVICE'
  | 'IOT_ERR_DEVICE_TIMEOUT'
  | 'IOT_ERR_FRAME'
  | 'IOT_ERR_STORE'
  | 'IOT_ERR_XMPP'
  | 'IOT_ERR_XMPP_TIMEOUT'
  | 'IOT_ERR_OFFLINE'
  | 'IOT_ERR_MISSING_DEPENDENCY'
  | 'IOT_ERR_STOPPED'
  | 'IOT_ERR_EXI'
  | 'IOT_ERR_EXI_UNSUPPORTED'
  | 'IOT_ERR_EXI_LIMIT';

export class IotError extends Error {
  readonly code: IotErrorCode;
  constructor(code: IotErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem in a configuration file, located by its key path (`devices[1].interval`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends IotError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source?: string) {
    const where = source ? `${source}: ` : '';
    super('IOT_ERR_CONFIG', `${where}invalid configuration\n${formatIssues(issues)}`);
    this.issues = issues;
  }
}

export function formatIssues(issues: ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
}

export class DeviceError extends IotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('IOT_ERR_DEVICE', message, options);
  }
}

export class DeviceTimeoutError extends IotError {
  constructor(ms: number) {
    super('IOT_ERR_DEVICE_TIMEOUT', `device did not answer within ${ms} ms`);
  }
}

export class FrameError extends IotError {
  constructor(message: string) {
    super('IOT_ERR_FRAME', message);
  }
}

export class MissingDependencyError extends IotError {
  /** `fix` is the exact command line that installs what is missing. */
  readonly fix: string;
  constructor(what: string, fix: string) {
    super('IOT_ERR_MISSING_DEPENDENCY', `${what} is not installed; run: ${fix}`);
    this.fix = fix;
  }
}

export class XmppTimeoutError extends IotError {
  constructor(what: string, ms: number) {
    super('IOT_ERR_XMPP_TIMEOUT', `${what}: no answer within ${ms} ms`);
  }
}

/** The connection went offline (or was stopped) before the request was answered; nothing says it failed. */
export class XmppOfflineError extends IotError {
  constructor(what: string) {
    super('IOT_ERR_OFFLINE', `${what}: the connection went offline before an answer arrived`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
