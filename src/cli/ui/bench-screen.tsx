/** ink screen for `elacsym bench` on a terminal: live phase progress, then the results table. */
import { Box, render, Text } from 'ink';
import { useEffect, useState } from 'react';
import type { BenchReport } from '../../bench/run.js';

type Progress = (phase: string, done: number, total: number) => void;

function Bench({ start, table, onDone }: { start: (p: Progress) => Promise<BenchReport>; table: (r: BenchReport) => string[]; onDone: (r: BenchReport | Error) => void }) {
  const [phase, setPhase] = useState({ name: 'starting', done: 0, total: 1 });
  const [report, setReport] = useState<BenchReport | null>(null);
  useEffect(() => {
    let last = 0;
    start((name, done, total) => {
      const now = Date.now();
      if (now - last > 100 || done === 0) {
        last = now;
        setPhase({ name, done, total });
      }
    }).then(
      (r) => {
        setReport(r);
        onDone(r);
      },
      (e: Error) => onDone(e),
    );
  }, []);
  if (report) {
    return (
      <Box flexDirection="column" borderStyle="round" borderColor="green" paddingX={1}>
        <Text bold>elacsym bench</Text>
        {table(report).map((l) => (
          <Text key={l}>{l}</Text>
        ))}
      </Box>
    );
  }
  const frac = phase.total > 1 ? Math.min(1, phase.done / phase.total) : 0;
  const bar = '█'.repeat(Math.round(frac * 30)).padEnd(30, '░');
  return (
    <Text>
      <Text color="cyan">{phase.name.padEnd(12)}</Text> {phase.total > 1 ? `${bar} ${(frac * 100).toFixed(0)}%` : '...'}
    </Text>
  );
}

export function runBenchScreen(start: (p: Progress) => Promise<BenchReport>, table: (r: BenchReport) => string[]): Promise<BenchReport> {
  return new Promise((resolve, reject) => {
    let app: ReturnType<typeof render> | undefined;
    const onDone = (r: BenchReport | Error) => {
      setTimeout(() => {
        app?.unmount();
        if (r instanceof Error) reject(r);
        else resolve(r);
      }, 50);
    };
    app = render(<Bench start={start} table={table} onDone={onDone} />, { stdout: process.stderr });
  });
}
