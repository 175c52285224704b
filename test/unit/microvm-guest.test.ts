import assert from "node:assert/strict";
import { test } from "node:test";
import { VmdError } from "../../src/errors.js";
import { redactArgs } from "../../src/cli/vm-common.js";
import { microvmEnv } from "../../src/microvm/env.js";
import {
  DEFAULTS,
  openclawVersionOf,
  planSetup,
  type RawSetupOptions,
} from "../../src/microvm/flags.js";
import { gatewayEnvFile, openclawConfig, openclawUnit } from "../../src/microvm/guest/openclaw.js";
import { provisionBundle } from "../../src/microvm/guest/provision.js";
import { hostNameservers, seedFiles } from "../../src/microvm/guest/seed.js";
import { macForIp } from "../../src/microvm/net/cidr.js";
import { natRules, tapName } from "../../src/microvm/net/host-net.js";
import { instancePaths } from "../../src/microvm/paths.js";
import { unitFiles } from "../../src/microvm/units.js";
import { bootArgs, specFor } from "../../src/microvm/vmspec.js";
import { firecrackerConfig } from "../../src/microvm/vmm/firecracker.js";
import { hostTscKhz, qemuArgs } from "../../src/microvm/vmm/qemu.js";
import { OPENCLAW_VERSION } from "../../src/runtime/images/sources.js";
import { testRecord } from "../helpers/microvm-record.js";

const base: RawSetupOptions = {
  instance: "my-bot",
  telegramToken: "123456:ABC-def_ghi",
  anthropicApiKey: "sk-ant-test",
};

const refused = (o: RawSetupOptions, re: RegExp) =>
  assert.throws(
    () => planSetup(o),
    (e: unknown) => e instanceof VmdError && re.test(`${e.message} (fix: ${e.hint})`),
    `expected ${re}`,
  );

test("vm-setup's defaults are the seed's table", () => {
  const plan = planSetup(base);
  assert.equal(plan.provision.model, "anthropic/claude-opus-4-6");
  assert.deepEqual(plan.provision.skills, [
    "github",
    "tmux",
    "coding-agent",
    "session-logs",
    "skill-creator",
  ]);
  assert.equal(plan.vcpu, 4);
  assert.equal(plan.memMib, 8192);
  assert.equal(plan.provision.browser, true, "--skip-browser-install defaults to false");
  assert.equal(plan.openclawVersion, OPENCLAW_VERSION);
  assert.equal(plan.network, "bridge");
  assert.deepEqual(plan.provision.telegramUsers, []);
  assert.equal(DEFAULTS.skills, "github,tmux,coding-agent,session-logs,skill-creator");
});

test("couplings: telegram users need the token, a model needs its provider's key", () => {
  refused({ instance: "a" }, /--telegram-token is required/);
  refused({ instance: "a", telegramUsers: "1,2" }, /--telegram-users needs --telegram-token/);
  refused({ ...base, telegramUsers: "12,abc" }, /abc is not a numeric Telegram user id/);
  refused(
    { ...base, anthropicApiKey: undefined },
    /anthropic\/claude-opus-4-6 needs --anthropic-api-key/,
  );
  refused({ ...base, model: "openai/gpt-5" }, /needs --openai-api-key/);
  refused({ ...base, model: "minimax/MiniMax-M2" }, /needs --minimax-api-key/);
  assert.equal(
    planSetup({ ...base, model: "openai/gpt-5", openaiApiKey: "sk-o" }).provision.apiKeys.openai,
    "sk-o",
  );
  // a provider without a key flag of its own (a local endpoint) needs none
  assert.equal(planSetup({ ...base, model: "ollama/llama3" }).provision.model, "ollama/llama3");
  refused({ ...base, telegramToken: "not-a-token" }, /does not look like a bot token/);
  refused({ ...base, anthropicApiKey: 'sk"; rm -rf /' }, /--anthropic-api-key holds/);
});

test("every bad flag is one line with its fix", () => {
  refused({ ...base, instance: "Bad" }, /instance id "Bad" is not allowed.*fix: pick an id/);
  refused({ ...base, vmVcpu: "0" }, /--vm-vcpu 0 is not a whole number from 1 to 32/);
  refused({ ...base, vmMemMib: "lots" }, /--vm-mem-mib lots/);
  refused({ ...base, model: "no-provider" }, /is not provider\/model/);
  refused({ ...base, skills: "github,Bad Skill" }, /Bad Skill is not a skill name/);
  refused({ ...base, network: "nat" }, /--network nat is not one of bridge, user/);
  refused({ ...base, vmm: "firecracker", network: "user" }, /Firecracker has no user-mode network/);
  refused({ ...base, hostPort: "80" }, /--host-port 80/);
  refused({ ...base, telegramApiRoot: "ftp://x" }, /is not http/);
  refused({ ...base, openclawImage: "ubuntu:latest" }, /not an OpenClaw release.*openclaw@/);
});

test("--openclaw-image names an OpenClaw release, in the seed's form too", () => {
  assert.equal(openclawVersionOf("openclaw@2026.9.6"), "2026.9.6");
  assert.equal(openclawVersionOf("ghcr.io/openclaw/openclaw:2026.9.5"), "2026.9.5");
  assert.equal(openclawVersionOf("ghcr.io/openclaw/openclaw:latest"), "latest");
  assert.equal(openclawVersionOf("2026.10.1"), "2026.10.1");
});

test("the gateway's secrets go only into the 0600 env file; the config refers to them", () => {
  const plan = planSetup({
    ...base,
    telegramUsers: "111,222",
    model: "openai/fake-model",
    openaiApiKey: "sk-open",
    providerBaseUrl: "http://10.0.0.1:8080/v1/",
    telegramApiRoot: "http://10.0.0.1:9000",
    skipBrowserInstall: true,
  });
  const cfg = openclawConfig(plan.provision);
  const text = JSON.stringify(cfg);
  for (const secret of ["123456:ABC-def_ghi", "sk-ant-test", "sk-open", "TOKEN-XYZ"])
    assert.ok(!text.includes(secret), `${secret} is not in openclaw.json`);
  assert.deepEqual((cfg.gateway as Record<string, unknown>).auth, {
    mode: "token",
    token: "${OPENCLAW_GATEWAY_TOKEN}",
  });
  assert.equal((cfg.gateway as Record<string, unknown>).bind, "lan");
  assert.equal((cfg.gateway as Record<string, unknown>).port, 18789);
  const tg = (cfg.channels as Record<string, Record<string, unknown>>).telegram!;
  assert.deepEqual(tg, {
    enabled: true,
    botToken: "${TELEGRAM_BOT_TOKEN}",
    dmPolicy: "allowlist",
    allowFrom: ["111", "222"],
    apiRoot: "http://10.0.0.1:9000",
  });
  const openai = (cfg.models as { providers: Record<string, Record<string, unknown>> }).providers
    .openai!;
  assert.equal(openai.baseUrl, "http://10.0.0.1:8080/v1");
  assert.equal(openai.apiKey, "${OPENAI_API_KEY}");
  // A pinned OpenClaw: no update check, no hosted catalog refresh, no Codex harness from npm.
  assert.deepEqual(openai.agentRuntime, { id: "openclaw" });
  assert.deepEqual(cfg.update, { checkOnStart: false });
  assert.deepEqual((cfg.models as Record<string, unknown>).catalogRefresh, { enabled: false });
  assert.deepEqual((cfg.skills as Record<string, unknown>).allowBundled, plan.provision.skills);
  assert.deepEqual(cfg.browser, { enabled: false });
  assert.equal(
    gatewayEnvFile("TOKEN-XYZ", plan.provision),
    "OPENCLAW_GATEWAY_TOKEN=TOKEN-XYZ\nTELEGRAM_BOT_TOKEN=123456:ABC-def_ghi\nANTHROPIC_API_KEY=sk-ant-test\nOPENAI_API_KEY=sk-open\n",
  );
  const unit = openclawUnit("my-bot");
  assert.match(unit, /^EnvironmentFile=\/etc\/openclaw\/gateway.env$/m);
  assert.match(
    unit,
    /^ExecStart=\S+node \S+openclaw.mjs gateway --bind lan --port 18789$/m,
    "no secret on the command line",
  );
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^Environment=OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_DISABLE_BONJOUR=1$/m);
  assert.match(unit, /^User=openclaw$/m);
  const bundle = provisionBundle("my-bot", "TOKEN-XYZ", plan.provision);
  assert.deepEqual(Object.keys(bundle).sort(), [
    "browser",
    "gateway.env",
    "openclaw.json",
    "openclaw.service",
  ]);
  assert.equal(bundle.browser, "skip\n");
  const pairing = openclawConfig(planSetup(base).provision);
  assert.equal(
    (pairing.channels as Record<string, Record<string, unknown>>).telegram!.dmPolicy,
    "pairing",
  );
  assert.equal((pairing.browser as Record<string, unknown>).executablePath, "/usr/bin/chromium");
});

test("the first-boot seed is NoCloud (cloud-init reads it) plus the vmdemo/ files", () => {
  const files = seedFiles({
    id: "my-bot",
    mac: macForIp("172.16.0.2"),
    address: "172.16.0.2/24",
    gateway: "172.16.0.1",
    dns: ["192.0.2.53"],
    authorizedKey: "ssh-ed25519 AAAAhost vmdemo",
    hostKeyPrivate: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
    hostKeyPublic: "ssh-ed25519 AAAAguest vmdemo-my-bot",
  });
  assert.equal(files["meta-data"], "instance-id: vmdemo-my-bot\nlocal-hostname: my-bot\n");
  assert.match(files["user-data"]!, /^#cloud-config\n/);
  assert.match(files["user-data"]!, /ssh_authorized_keys:\n {2}- ssh-ed25519 AAAAhost vmdemo\n/);
  assert.match(
    files["user-data"]!,
    /ed25519_private: \|\n {4}-----BEGIN OPENSSH PRIVATE KEY-----\n {4}abc\n/,
  );
  assert.equal(
    files["network-config"],
    'version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: "06:fc:ac:10:00:02"\n    addresses: [172.16.0.2/24]\n    routes:\n      - to: default\n        via: 172.16.0.1\n    nameservers:\n      addresses: [192.0.2.53]\n',
  );
  assert.equal(
    files["vmdemo/network.env"],
    "HOSTNAME=my-bot\nMAC=06:fc:ac:10:00:02\nADDRESS=172.16.0.2/24\nGATEWAY=172.16.0.1\nDNS=192.0.2.53\n",
  );
  assert.deepEqual(
    hostNameservers("nameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n"),
    ["192.0.2.1"],
  );
});

const rec = testRecord("my-bot", { model: "m/x" });

test("QEMU: microvm with the timer devices, virtio-mmio disks and net, QMP, TCG or KVM", () => {
  const env = microvmEnv({ STATE_ROOT: "/s", FC_ROOT: "/f" });
  const spec = specFor(rec, instancePaths(env, "my-bot"));
  const args = qemuArgs(spec, undefined, 2096016);
  const joined = args.join(" ");
  assert.match(
    joined,
    /-machine microvm,pit=on,pic=on,rtc=on,acpi=on -accel tcg,thread=multi -cpu max -m 2048 -smp 2/,
  );
  assert.match(
    joined,
    /-kernel \/img\/vmlinux -initrd \/img\/initrd.img -append console=ttyS0 root=\/dev\/vda rw panic=1 pci=off quiet tsc_early_khz=2096016/,
  );
  assert.match(
    joined,
    /-drive id=rootfs,file=\/f\/my-bot\/rootfs.qcow2,format=qcow2,if=none,readonly=off,discard=unmap -device virtio-blk-device,drive=rootfs -drive id=seed,file=\/f\/my-bot\/seed.img,format=raw,if=none,readonly=on/,
  );
  assert.match(
    joined,
    /-netdev tap,id=net0,ifname=fc-my-bot,script=no,downscript=no -device virtio-net-device,netdev=net0,mac=06:fc:ac:10:00:02/,
  );
  assert.match(joined, /-qmp unix:\/f\/my-bot\/run\/qmp.sock,server=on,wait=off$/);
  assert.ok(!joined.includes("-loadvm"));
  assert.match(qemuArgs(spec, "snap-1").join(" "), /-loadvm snap-1$/);
  const kvm = qemuArgs({ ...spec, accel: "kvm" }, undefined, 2096016).join(" ");
  assert.match(kvm, /-accel kvm -cpu host/);
  assert.ok(!/tsc_early_khz|tsc=reliable/.test(kvm), "KVM guests have kvm-clock");
  const user = qemuArgs(
    specFor(
      { ...rec, network: "user", sshPort: 18891, guestIp: "10.0.2.15" },
      instancePaths(env, "my-bot"),
    ),
  );
  assert.match(
    user.join(" "),
    /-netdev user,id=net0,hostfwd=tcp:127.0.0.1:18890-:18789,hostfwd=tcp:127.0.0.1:18891-:22 /,
  );
  assert.equal(hostTscKhz("cpu MHz\t\t: 2096.016\n"), 2096016);
});

test("Firecracker: the seed's config file shape, raw disks only, no user network", () => {
  const env = microvmEnv({ STATE_ROOT: "/s", FC_ROOT: "/f" });
  const spec = specFor(
    { ...rec, vmm: "firecracker", accel: "kvm", diskFormat: "raw" },
    instancePaths(env, "my-bot"),
  );
  assert.deepEqual(firecrackerConfig(spec), {
    "boot-source": {
      kernel_image_path: "/img/vmlinux",
      boot_args: bootArgs("firecracker"),
      initrd_path: "/img/initrd.img",
    },
    drives: [
      {
        drive_id: "rootfs",
        path_on_host: "/f/my-bot/rootfs.ext4",
        is_root_device: true,
        is_read_only: false,
      },
      {
        drive_id: "seed",
        path_on_host: "/f/my-bot/seed.img",
        is_root_device: false,
        is_read_only: true,
      },
    ],
    "machine-config": { vcpu_count: 2, mem_size_mib: 2048, smt: false },
    "network-interfaces": [
      { iface_id: "eth0", host_dev_name: "fc-my-bot", guest_mac: "06:fc:ac:10:00:02" },
    ],
    entropy: {},
  });
  assert.match(bootArgs("firecracker"), /reboot=k/);
  assert.throws(
    () => firecrackerConfig({ ...spec, disks: [{ ...spec.disks[0]!, format: "qcow2" }] }),
    /raw disks/,
  );
});

test("networking: NAT and forwarding rules for the subnet; TAP names fit 15 bytes", () => {
  const env = microvmEnv({ STATE_ROOT: "/s" });
  assert.deepEqual(natRules(env)[0], [
    "nat",
    "POSTROUTING",
    "-s",
    "172.16.0.0/24",
    "!",
    "-o",
    "fcbr0",
    "-j",
    "MASQUERADE",
  ]);
  assert.equal(tapName("my-bot", "ab".repeat(32)), "fc-my-bot");
  assert.equal(tapName("a-very-long-instance-name", "0123456789abcdef"), "fc-0123456789ab");
  assert.ok(tapName("a-very-long-instance-name", "0123456789abcdef").length <= 15);
});

test("systemd units: the seed's two units, restart on failure, the variables, stop by disabling", () => {
  const env = microvmEnv({ STATE_ROOT: "/s", FC_ROOT: "/f", BASE_PORT: "19000" });
  const units = unitFiles(env, rec, "/usr/bin/node", "/opt/vmd/dist/src/cli/vm-ctl.js");
  assert.deepEqual(Object.keys(units), [
    "firecracker-vmdemo-my-bot.service",
    "vmdemo-proxy-my-bot.service",
  ]);
  const vm = units["firecracker-vmdemo-my-bot.service"]!;
  assert.match(
    vm,
    /^ExecStart=\/usr\/bin\/node \/opt\/vmd\/dist\/src\/cli\/vm-ctl.js supervise my-bot --no-restart --no-proxy$/m,
  );
  assert.match(vm, /^Restart=on-failure$/m);
  assert.match(vm, /^Environment=STATE_ROOT=\/s$/m);
  assert.match(vm, /^Environment=FC_ROOT=\/f$/m);
  assert.match(vm, /^Environment=BASE_PORT=19000$/m);
  assert.match(vm, /^WantedBy=multi-user.target$/m);
  const proxy = units["vmdemo-proxy-my-bot.service"]!;
  assert.match(
    proxy,
    /^ExecStart=\/usr\/bin\/node \/opt\/vmd\/dist\/src\/cli\/vm-ctl.js proxy my-bot$/m,
  );
  assert.match(proxy, /^BindsTo=firecracker-vmdemo-my-bot.service$/m);
  assert.match(proxy, /^Description=vmdemo proxy 127.0.0.1:18890 -> 172.16.0.2:18789/m);
  for (const u of Object.values(units)) assert.ok(!/token|api.key/i.test(u), "no secrets in units");
  const user = unitFiles(env, { ...rec, network: "user" }, "/n", "/v");
  assert.deepEqual(
    Object.keys(user),
    ["firecracker-vmdemo-my-bot.service"],
    "user mode: QEMU forwards the port itself",
  );
});

test("secret flag values are hidden from the process title", () => {
  assert.deepEqual(
    redactArgs([
      "--instance",
      "b",
      "--telegram-token",
      "1:x",
      "--anthropic-api-key=sk",
      "--model",
      "m",
    ]),
    ["--instance", "b", "--telegram-token", "***", "--anthropic-api-key=***", "--model", "m"],
  );
});
