// The core's error vocabulary: OCI distribution error codes plus three of our own.
// Every error answered before the status line carries one of these in
// {"errors":[{"code","message","detail"}]}.

export const ErrorCode = {
  BLOB_UNKNOWN: 'BLOB_UNKNOWN',
  DIGEST_INVALID: 'DIGEST_INVALID',
  MANIFEST_INVALID: 'MANIFEST_INVALID',
  MANIFEST_UNKNOWN: 'MANIFEST_UNKNOWN',
  NAME_INVALID: 'NAME_INVALID',
  NAME_UNKNOWN: 'NAME_UNKNOWN',
  SIZE_INVALID: 'SIZE_INVALID',
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  UNSUPPORTED: 'UNSUPPORTED',
  TOOMANYREQUESTS: 'TOOMANYREQUESTS',
  RANGE_INVALID: 'RANGE_INVALID',
  PLATFORM_UNKNOWN: 'PLATFORM_UNKNOWN',
  UPSTREAM_UNAVAILABLE: 'UPSTREAM_UNAVAILABLE',
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorEntry {
  code: ErrorCode | string;
  message: string;
  detail?: unknown;
}

export interface ErrorBody {
  errors: ErrorEntry[];
}

/** An error with the HTTP status the core answers it with. */
export class CoreError extends Error {
  readonly status: number;
  readonly code: ErrorCode | string;
  readonly detail: unknown;
  /** Extra response headers, e.g. Retry-After on 429. */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: ErrorCode | string,
    message: string,
    detail?: unknown,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'CoreError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.headers = headers;
  }

  toBody(): ErrorBody {
    const entry: ErrorEntry = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const errors = (value as { errors?: unknown }).errors;
  return (
    Array.isArray(errors) &&
    errors.every((e) => typeof e === 'object' && e !== null && typeof (e as ErrorEntry).code === 'string')
  );
}
