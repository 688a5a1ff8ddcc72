/**
 * Security headers of every API answer (OWASP REST Security Cheat Sheet): JSON is never to be sniffed as another type,
 * framed or run as a page. Static and few, so they cost next to nothing per request; HSTS belongs to the TLS terminator
 * in front of the service. The HTML docs page gets helmet's full set (http/docs.ts).
 */
export const API_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
} as const;
