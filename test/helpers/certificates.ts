/** Throwaway TLS material for tests (openssl; `findExecutable('openssl')` to skip without it). */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** A throwaway self-signed certificate for `localhost` (SAN DNS:localhost only: not valid for 127.0.0.1). */
export function selfSignedLocalhost(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const subject = ['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'];
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', ...subject, '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  return { key, cert };
}
