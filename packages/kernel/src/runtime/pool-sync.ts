import type { WorkerConfig } from '../config.js';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { Infrastructure } from '../extension-points.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import type { BaseJobTemplate, ServerInfo, WorkPool } from '../prefect/types.js';

/** What the sync loop keeps: the latest pool snapshot and what it learned about the server. @internal */
export interface SyncState {
  pool: WorkPool | undefined;
  server: ServerInfo | undefined;
  workerId: string | undefined;
  /** Set after the first sync that produced a pool; polling waits for it (spec §1.3 step 6). */
  hasSynced: boolean;
}

function isEmptyTemplate(t: unknown): boolean {
  return !t || (typeof t === 'object' && Object.keys(t as object).length === 0);
}

/**
 * Spec §1.3: pool lookup (create on 404, PATCH an empty template with the infrastructure's default,
 * never overwrite an existing one), then the REST heartbeat.
 * @internal
 */
export class PoolSync {
  readonly state: SyncState = { pool: undefined, server: undefined, workerId: undefined, hasSynced: false };
  private metadataSent = false;

  constructor(
    private readonly api: PrefectApi,
    private readonly config: WorkerConfig,
    private readonly infrastructure: Infrastructure,
    private readonly workerName: string,
    private readonly logger: Logger,
  ) {}

  /** Detects the server generation once (`GET /admin/version`); later calls return the cached answer. */
  async server(signal: AbortSignal): Promise<ServerInfo> {
    if (!this.state.server) {
      this.state.server = await this.api.serverInfo({ signal });
      this.logger.info(
        `Connected to Prefect ${this.state.server.isCloud ? 'Cloud' : 'server'} ${this.state.server.version}.`,
        {
          serverVersion: this.state.server.version,
        },
      );
    }
    return this.state.server;
  }

  defaultTemplate(server: ServerInfo): BaseJobTemplate {
    return this.infrastructure.defaultBaseJobTemplate({ server });
  }

  async sync(signal: AbortSignal): Promise<void> {
    const server = await this.server(signal);
    const pool = await this.lookupPool(server, signal);
    if (!pool) return;
    if (pool.type !== this.infrastructure.type) {
      this.logger.warn(
        `Worker type mismatch! This worker process expects type '${this.infrastructure.type}' but received '${pool.type}' from the server. Unexpected behavior may occur.`,
        { pool: pool.name },
      );
    }
    this.state.pool = structuredClone(pool);
    await this.heartbeat(server, signal);
    this.state.hasSynced = true;
  }

  private async lookupPool(server: ServerInfo, signal: AbortSignal): Promise<WorkPool | undefined> {
    const name = this.config.pool;
    let pool: WorkPool;
    try {
      pool = await this.api.readWorkPool(name, { signal });
      if (this.config.baseJobTemplate && !this.state.pool) {
        this.logger.warn('Ignoring supplied base job template because the work pool already exists.', {
          pool: name,
        });
      }
    } catch (e) {
      if (!isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) throw e;
      if (!this.config.createPoolIfNotFound) {
        this.logger.warn(`Work pool '${name}' not found!`, { pool: name });
        return undefined;
      }
      try {
        pool = await this.api.createWorkPool(
          {
            name,
            type: this.infrastructure.type,
            ...(this.config.baseJobTemplate
              ? { base_job_template: this.config.baseJobTemplate as BaseJobTemplate }
              : {}),
          },
          { signal },
        );
        this.logger.info(`Work pool '${name}' created.`, { pool: name });
      } catch (ce) {
        if (!isStevedoreError(ce, kernelErrorCodes.PREFECT_OBJECT_EXISTS)) throw ce;
        pool = await this.api.readWorkPool(name, { signal }); // created by a racing worker
      }
    }
    if (isEmptyTemplate(pool.base_job_template)) {
      const template = this.defaultTemplate(server);
      await this.api.updateWorkPool(name, { base_job_template: template }, { signal });
      pool = { ...pool, base_job_template: template };
      this.logger.info(
        `Work pool '${name}' had no base job template; set it to the default '${this.infrastructure.type}' template.`,
        {
          pool: name,
        },
      );
    }
    return pool;
  }

  private async heartbeat(server: ServerInfo, signal: AbortSignal): Promise<void> {
    const body: Parameters<PrefectApi['heartbeat']>[1] = {
      name: this.workerName,
      heartbeat_interval_seconds: Math.trunc(this.config.heartbeatSeconds),
    };
    if (server.isCloud && !this.state.workerId) body.return_id = true;
    if (server.isCloud && !this.metadataSent) {
      body.metadata = { integrations: [{ name: 'stevedore', version: '0.1.0' }] };
    }
    const id = await this.api.heartbeat(this.config.pool, body, { signal });
    this.metadataSent = true;
    if (id && !this.state.workerId) {
      this.state.workerId = id;
      this.logger.info(`Worker registered with id ${id}.`, { workerId: id });
    }
  }
}
