/**
 * Tenants' bandwidth: the bytes a second all the runs of a tenant together may write to its
 * repositories (`tenants.bandwidth_bytes_per_second`). Like the quota's budget, one token bucket in
 * shared memory serves all the tenant's runs on this server, each in a worker thread of its own:
 * opened (empty) when the first starts, closed when the last ends. A limit changed meanwhile holds
 * for the runs already running from the runner's next poll (refresh). It limits throughput and
 * never fails a run. Servers sharing a catalog keep buckets of their own.
 */
import type { Catalog, TenantRow } from '../catalog/index.ts';
import { SharedTokenBucket } from '../repo/index.ts';
import { sizeText } from './quota.ts';

/** The bandwidth of one run, in plain data (it crosses to the run's worker thread). */
export interface BandwidthTask {
  readonly tenant: string;
  /** The tenant's bucket (SharedTokenBucket's memory): shared, not copied. */
  readonly bucket: SharedArrayBuffer;
}

/** A rate in words for messages: `2.00 MiB/s`. */
export function rateText(bytesPerSecond: number): string {
  return `${sizeText(bytesPerSecond)}/s`;
}

interface Batch {
  runs: number;
  readonly bucket: SharedTokenBucket;
}

export class BandwidthBook {
  readonly #batches = new Map<string, Batch>();

  /**
   * The bucket of a run of `tenant`, opened with its first run (also without a limit, so that a
   * limit set later holds for the runs then running). leave() must follow when the run ends.
   */
  join(tenant: TenantRow): BandwidthTask {
    let batch = this.#batches.get(tenant.id);
    if (batch === undefined) {
      batch = { runs: 0, bucket: SharedTokenBucket.create(tenant.bandwidth_bytes_per_second) };
      this.#batches.set(tenant.id, batch);
    } else batch.bucket.setRate(tenant.bandwidth_bytes_per_second);
    batch.runs++;
    return { tenant: tenant.name, bucket: batch.bucket.memory };
  }

  leave(tenantId: string): void {
    const batch = this.#batches.get(tenantId);
    if (batch === undefined) return;
    batch.runs--;
    if (batch.runs <= 0) this.#batches.delete(tenantId);
  }

  /** Reads the limits of the tenants whose runs are running again: a change holds from now. */
  async refresh(catalog: Catalog): Promise<void> {
    if (this.#batches.size === 0) return;
    const open = new Map(this.#batches);
    for (const t of await catalog.tenantLimits([...open.keys()])) {
      // A bucket opened while the limits were read has read them itself.
      const batch = open.get(t.id);
      if (batch !== undefined && this.#batches.get(t.id) === batch)
        batch.bucket.setRate(t.bandwidth_bytes_per_second);
    }
  }
}
