/** Runs `jobs` with at most `inFlight` of them at once (16 unless told); rejects with the first failure. */
export async function bounded(jobs: (() => Promise<void>)[], inFlight = 16): Promise<void> {
  let at = 0;
  const worker = async () => {
    while (at < jobs.length) await jobs[at++]!();
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, jobs.length) }, worker));
}
