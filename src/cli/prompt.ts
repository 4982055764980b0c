/**
 * Terminal prompts for `xiot init`: a question with its default in brackets (Enter keeps it), re-asked until the
 * answer is valid; yes/no; a secret whose typing is not echoed. Works on any stream pair, so tests drive it
 * with plain streams and a real pseudo-terminal alike.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export interface Prompter {
  /** `validate` returns what was expected, or undefined when the answer (an empty one too) is fine. */
  ask(
    question: string,
    fallback?: string,
    validate?: (answer: string) => string | undefined,
  ): Promise<string>;
  confirm(question: string, fallback: boolean): Promise<boolean>;
  /** Not echoed; Enter keeps `fallback` when there is one. */
  secret(question: string, fallback?: string): Promise<string>;
  close(): void;
}

export function createPrompter(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Prompter {
  let muted = false;
  const shown = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) output.write(chunk);
      done();
    },
  });
  const terminal = (output as { isTTY?: boolean }).isTTY === true;
  const rl = createInterface({ input, output: shown, terminal });
  const lines: string[] = [];
  const waiting: ((line: string | undefined) => void)[] = [];
  let closed = false;
  rl.on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else lines.push(line);
  });
  rl.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  const nextLine = (): Promise<string> => {
    const line = lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (closed) return Promise.reject(new Error('input ended before every question was answered'));
    return new Promise((resolve, reject) =>
      waiting.push((l) =>
        l === undefined ? reject(new Error('input ended before every question was answered')) : resolve(l),
      ),
    );
  };
  const ask: Prompter['ask'] = async (question, fallback, validate) => {
    for (;;) {
      output.write(`${question}${fallback ? ` [${fallback}]` : ''}: `);
      const answer = (await nextLine()).trim() || fallback || '';
      const problem = validate ? validate(answer) : answer ? undefined : 'an answer';
      if (!problem) return answer;
      output.write(`  expected ${problem}\n`);
    }
  };
  return {
    ask,
    async confirm(question, fallback) {
      const answer = await ask(`${question}? (y/n)`, fallback ? 'y' : 'n', (s) =>
        /^(y|yes|n|no)$/i.test(s) ? undefined : 'y or n',
      );
      return /^y/i.test(answer);
    },
    async secret(question, fallback) {
      for (;;) {
        output.write(`${question}${fallback ? ' [keep]' : ''}: `);
        muted = true;
        let answer: string;
        try {
          answer = await nextLine();
        } finally {
          muted = false;
        }
        output.write('\n');
        if (answer) return answer;
        if (fallback) return fallback;
        output.write('  expected a password\n');
      }
    },
    close: () => rl.close(),
  };
}
