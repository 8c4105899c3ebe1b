// How busy the machine was besides the benchmark itself: time the hypervisor gave to other guests
// (steal) and CPU used by processes outside the benchmark's process tree. Linux only (/proc);
// elsewhere the samples are undefined and nothing is reported.
import { readFileSync } from 'node:fs';

/** A snapshot of /proc/stat's CPU line and of this process's CPU, its own and its reaped children's. */
export function hostSample() {
  try {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // Fields after the parenthesised command name, which may itself contain spaces.
    const own = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ').map(Number);
    const [utime, stime, cutime, cstime] = own.slice(11, 15);
    return {
      busy: user + nice + system + irq + softirq,
      total: user + nice + system + idle + iowait + irq + softirq + steal,
      steal,
      ours: utime + stime + cutime + cstime,
    };
  } catch {
    return undefined;
  }
}

/**
 * Shares of the machine's CPU time (all cores) between two samples, in percent: `steal` (taken by
 * the hypervisor), `others` (busy outside this process tree) and `bench` (this process tree).
 */
export function hostActivity(before, after) {
  if (!before || !after) return undefined;
  const total = after.total - before.total;
  if (total <= 0) return undefined;
  const percent = (ticks) => Math.round((1000 * Math.max(0, ticks)) / total) / 10;
  const ours = after.ours - before.ours;
  return {
    stealPercent: percent(after.steal - before.steal),
    othersPercent: percent(after.busy - before.busy - ours),
    benchPercent: percent(ours),
  };
}
