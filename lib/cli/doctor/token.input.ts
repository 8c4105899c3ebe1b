import { readFile } from 'node:fs/promises';
import { DoctorInputError } from './config.loader.js';
import { bareToken } from './token.summary.js';

/** Reads a token from a file, or from stdin for `-`: bare, or as a `Bearer …` header value. */
export async function readTokenInput(source: string): Promise<string> {
  const where = source === '-' ? 'stdin' : source;
  let text: string;
  try {
    text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new DoctorInputError(
      `the token file ${where} cannot be read (${code})`,
      'give the file that holds the token',
    );
  }
  const token = bareToken(text);
  if (token === '') throw new DoctorInputError(`${where} holds no token`, `put the token in ${where}`);
  return token;
}

async function readStdin(): Promise<string> {
  // At a terminal, say what the wait is for: a pasted token, ended with Ctrl-D.
  if (process.stdin.isTTY) process.stderr.write('Paste the token, then press Enter and Ctrl-D:\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
