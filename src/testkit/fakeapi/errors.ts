/** API errors carried as Kubernetes `Status` objects. */

export type StatusReason =
  | 'BadRequest'
  | 'UnsupportedMediaType'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'Unknown';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

const REASON_BY_CODE: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function reasonForCode(code: number): StatusReason {
  return REASON_BY_CODE[code] ?? (code >= 500 ? 'InternalError' : 'Unknown');
}

export class StatusError extends Error {
  readonly code: number;
  readonly reason: StatusReason;
  readonly details: StatusDetails | undefined;

  constructor(code: number, message: string, reason: StatusReason = reasonForCode(code), details?: StatusDetails) {
    super(message);
    this.name = 'StatusError';
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): StatusObject {
    return failureStatus(this.code, this.message, this.reason, this.details);
  }
}

export function failureStatus(
  code: number,
  message: string,
  reason: StatusReason = reasonForCode(code),
  details?: StatusDetails,
): StatusObject {
  const status: StatusObject = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) status.details = details;
  return status;
}

export function successStatus(details: StatusDetails): StatusObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}

/** Builders for the errors the real apiserver returns, with its wording. */
export const errors = {
  notFound: (plural: string, name: string, group = ''): StatusError =>
    new StatusError(404, `${qualified(plural, group)} "${name}" not found`, 'NotFound', details(plural, name, group)),
  alreadyExists: (plural: string, name: string, group = ''): StatusError =>
    new StatusError(
      409,
      `${qualified(plural, group)} "${name}" already exists`,
      'AlreadyExists',
      details(plural, name, group),
    ),
  conflict: (plural: string, name: string, group = ''): StatusError =>
    new StatusError(
      409,
      `Operation cannot be fulfilled on ${qualified(plural, group)} "${name}": the object has been modified; ` +
        'please apply your changes to the latest version and try again',
      'Conflict',
      details(plural, name, group),
    ),
  expired: (message: string): StatusError => new StatusError(410, message, 'Expired'),
  badRequest: (message: string): StatusError => new StatusError(400, message, 'BadRequest'),
  invalid: (plural: string, name: string, message: string, group = ''): StatusError =>
    new StatusError(
      422,
      `${qualified(plural, group)} "${name}" is invalid: ${message}`,
      'Invalid',
      details(plural, name, group),
    ),
};

function qualified(plural: string, group: string): string {
  return group ? `${plural}.${group}` : plural;
}

function details(plural: string, name: string, group: string): StatusDetails {
  return group ? { name, group, kind: plural } : { name, kind: plural };
}
