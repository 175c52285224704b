/** A `/vmm/apply` body for the test runtime's Echo, as the raw-engine baselines send it (message `n`). */
export const applyBody = (pid: string, n: number, data?: string) => ({
  from: "bench",
  meta: {
    "Item-Id": `bench-${n}`,
    Pid: pid,
    "Acc-Id": "bench",
    Action: "Echo",
    "From-Process": "",
    "Pushed-For": "",
    Sequence: n,
    Nonce: n,
    Timestamp: Date.now(),
    Params: data === undefined ? {} : { Data: data },
    Data: "eA",
  },
  params: data === undefined ? {} : { Data: data },
});
