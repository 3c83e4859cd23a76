/**
 * A three-node NATS JetStream cluster on loopback ports, started from the machine's `nats-server` for one test file:
 * cluster routes between the nodes, JetStream on each with its own storage directory. Nodes can be killed with
 * SIGKILL and restarted on the same ports and storage, as a crashed server would come back. Used by the tests and
 * by the benchmarks (so it does not depend on the test runner).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { scaled } from './time.js';

export interface NatsNode {
  readonly name: string;
  readonly url: string;
  readonly clusterPort: number;
  proc: ChildProcess | undefined;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL: what a client is given to fail over between them. */
  readonly urls: string[];
  /** The node that leads `stream` now (asked of any node that answers). */
  leaderOf(stream: string): Promise<NatsNode>;
  /** SIGKILL: the node goes away mid-write, as a crash would. */
  kill9(node: NatsNode): Promise<void>;
  /** Starts a stopped node again on its ports and storage, and waits until it accepts clients. */
  restart(node: NatsNode): Promise<void>;
  /** Stops every node and deletes the storage directories. */
  stop(): Promise<void>;
}

const NATS_SERVER = process.env.EVENTLANE_TEST_NATS_SERVER ?? 'nats-server';

/** Whether the machine has a `nats-server` binary this module can start. */
export function natsServerAvailable(): boolean {
  return spawnSync(NATS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Sends `signal` and resolves once the process has exited (SIGKILL after 5 s when the signal was softer). */
async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + scaled(timeoutMs);
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `NATS cluster: timed out waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Answers true once a client can open a connection to `url`. */
async function accepts(url: string): Promise<boolean> {
  const nc = await connect({ servers: url, timeout: 1000, reconnect: false });
  await nc.close();
  return true;
}

export async function startNatsCluster(name = 'el'): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'eventlane-nats-'));
  const nodes: NatsNode[] = [];
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    nodes.push({
      name: `${name}-n${i}`,
      url: `nats://127.0.0.1:${port}`,
      clusterPort: await freePort(),
      proc: undefined,
    });
  }
  const routes = nodes.map((n) => `"nats-route://127.0.0.1:${n.clusterPort}"`).join(', ');
  const configOf = (node: NatsNode): string => {
    const file = join(dir, `${node.name}.conf`);
    writeFileSync(
      file,
      [
        `server_name: "${node.name}"`,
        `listen: "127.0.0.1:${new URL(node.url).port}"`,
        `jetstream { store_dir: "${join(dir, node.name)}", max_memory_store: 256MB, max_file_store: 2GB }`,
        `cluster { name: "${name}", listen: "127.0.0.1:${node.clusterPort}", routes: [${routes}] }`,
      ].join('\n'),
    );
    return file;
  };

  const launch = (node: NatsNode): void => {
    const proc = spawn(NATS_SERVER, ['-c', configOf(node)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    proc.stderr?.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
    proc.once('exit', (code, signal) => {
      if (signal === null && code !== 0 && process.env.EVENTLANE_TEST_NATS_DEBUG) {
        process.stderr.write(`[${node.name}] exited with ${code}: ${tail}\n`);
      }
    });
    node.proc = proc;
  };

  // A test runner or bench that exits without stop() leaves no server behind.
  const killAll = (): void => {
    for (const n of nodes) n.proc?.kill('SIGKILL');
  };
  process.on('exit', killAll);
  const urls = nodes.map((n) => n.url);
  const cluster: NatsCluster = {
    nodes,
    urls,
    async leaderOf(stream) {
      const nc = await connect({ servers: urls, timeout: 2000 });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(stream);
        const leader = nodes.find((n) => n.name === info.cluster?.leader);
        if (!leader) throw new Error(`stream ${stream} has no leader now (${JSON.stringify(info.cluster)})`);
        return leader;
      } finally {
        await nc.close();
      }
    },
    async kill9(node) {
      if (node.proc) await stopProcess(node.proc, 'SIGKILL');
      node.proc = undefined;
    },
    async restart(node) {
      launch(node);
      await until(`${node.name} to accept clients`, () => accepts(node.url), 30_000);
    },
    async stop() {
      process.off('exit', killAll);
      await Promise.all(nodes.map((n) => (n.proc ? stopProcess(n.proc, 'SIGTERM') : Promise.resolve())));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const node of nodes) launch(node);
    for (const node of nodes) await until(`${node.name} to accept clients`, () => accepts(node.url), 30_000);
    // JetStream in a cluster answers once the nodes have elected a meta leader.
    await until(
      'the JetStream meta leader',
      async () => {
        const nc = await connect({ servers: urls, timeout: 2000 });
        try {
          const jsm = await jetstreamManager(nc, { timeout: 2000 });
          await jsm.getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      60_000,
    );
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
