import { readFileSync } from "node:fs";

/** CPU time and peak memory of another process, read from /proc (Linux). */
export interface ProcStats {
  /** CPU time (user + system) the process has used so far, in microseconds. */
  cpuMicros(): number;
  /** Peak resident set size so far, in MB. */
  peakRssMb(): number;
}

export function procStats(pid: number): ProcStats {
  const read = (file: string) => readFileSync(`/proc/${pid}/${file}`, "utf8");
  return {
    cpuMicros: () => {
      // Fields after "comm)": utime and stime are the 12th and 13th, in clock ticks (100/s).
      const fields = read("stat").split(") ")[1]!.split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10_000;
    },
    peakRssMb: () => Number(/VmHWM:\s+(\d+)/.exec(read("status"))![1]) / 1024,
  };
}
