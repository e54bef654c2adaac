/**
 * Responses the proxy writes itself (errors and limits): short plain-text bodies that
 * say what went wrong, never echoing client bytes back.
 */

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A complete response. `close` adds Connection: close (the proxy then closes). */
export function localResponse(status: number, message: string, close: boolean): Buffer {
  const text = STATUS_TEXT[status] ?? 'Error';
  const body = `${status} ${text}: ${message}\n`;
  const head =
    `HTTP/1.1 ${status} ${text}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    'Cache-Control: no-store\r\n' +
    `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n` +
    (status === 429 ? 'Retry-After: 1\r\n' : '') +
    (close ? 'Connection: close\r\n' : '') +
    '\r\n';
  return Buffer.from(head + body, 'utf8');
}
