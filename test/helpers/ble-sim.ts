/**
 * A scripted Bluetooth controller for noble's custom-binding entry point
 * (`@abandonware/noble/with-bindings`): the only simulated boundary in the BLE tests. It speaks
 * the bindings protocol noble's hci-socket layer speaks (init, startScanning, connect,
 * discoverServices, ... answered by 'stateChange', 'discover', 'connect', 'servicesDiscover',
 * 'characteristicsDiscover', 'read', 'write', 'notify', 'disconnect' events), so noble itself and
 * our BleSource run unmodified on top of it.
 *
 * A test describes devices (advertisement + GATT table with optional write handlers), then
 * scripts them: notify(), drop() the link, goAway()/comeBack() out of and into range.
 */
import { EventEmitter } from 'node:events';

export interface SimCharacteristic {
  readonly uuid: string;
  readonly properties: string[];
  value?: Buffer;
  /** Called on a write; may answer (e.g. a control point indication) through the controller. */
  onWrite?: (data: Buffer, ctl: SimController) => void;
}

export interface SimService {
  readonly uuid: string;
  readonly characteristics: SimCharacteristic[];
}

export interface SimDevice {
  readonly id: string;
  readonly address: string;
  readonly name: string;
  rssi: number;
  readonly services: SimService[];
  /** Advertised service UUIDs (default: all). */
  readonly advertised?: string[];
}

interface DeviceState {
  readonly dev: SimDevice;
  inRange: boolean;
  connected: boolean;
  subscribed: Set<string>;
}

const key = (svc: string, ch: string): string => `${svc}/${ch}`;

export class SimController extends EventEmitter {
  /** Adapter state reported at init: 'poweredOn', or e.g. 'poweredOff' to test that path. */
  adapterState = 'poweredOn';
  private readonly devices = new Map<string, DeviceState>();
  private scanning = false;
  private scanFilter: string[] = [];
  private advertiseTimer: NodeJS.Timeout | undefined;
  /** Log of what noble asked for, for assertions. */
  readonly calls: string[] = [];

  add(dev: SimDevice): void {
    this.devices.set(dev.id, { dev, inRange: true, connected: false, subscribed: new Set() });
  }

  // ---- bindings API called by noble -------------------------------------------------------
  init(): void {
    this.calls.push('init');
    setImmediate(() => this.emit('stateChange', this.adapterState));
  }

  setScanParameters(): void {
    setImmediate(() => this.emit('scanParametersSet'));
  }

  startScanning(serviceUuids?: string[], _allowDuplicates?: boolean): void {
    this.calls.push('startScanning');
    this.scanning = true;
    this.scanFilter = serviceUuids ?? [];
    setImmediate(() => {
      this.emit('scanStart', false);
      this.advertiseAll();
    });
    // Devices advertise every 100 ms or so; keep advertising while scanning.
    clearInterval(this.advertiseTimer);
    this.advertiseTimer = setInterval(() => this.advertiseAll(), 100);
  }

  stopScanning(): void {
    this.calls.push('stopScanning');
    this.scanning = false;
    clearInterval(this.advertiseTimer);
    this.advertiseTimer = undefined;
    setImmediate(() => this.emit('scanStop'));
  }

  connect(id: string): void {
    this.calls.push(`connect ${id}`);
    const d = this.devices.get(id);
    setImmediate(() => {
      if (!d || !d.inRange) {
        this.emit('connect', id, new Error('connection timed out'));
        return;
      }
      d.connected = true;
      this.emit('connect', id, null);
    });
  }

  cancelConnect(id: string): void {
    this.calls.push(`cancelConnect ${id}`);
  }

  disconnect(id: string): void {
    this.calls.push(`disconnect ${id}`);
    const d = this.devices.get(id);
    setImmediate(() => {
      if (d) {
        d.connected = false;
        d.subscribed.clear();
      }
      this.emit('disconnect', id, 0x16);
    });
  }

  updateRssi(id: string): void {
    const d = this.devices.get(id);
    setImmediate(() => this.emit('rssiUpdate', id, d?.dev.rssi ?? -127));
  }

  discoverServices(id: string, uuids: string[]): void {
    const d = this.need(id);
    if (!d) return;
    const list = d.dev.services.map((s) => s.uuid).filter((u) => uuids.length === 0 || uuids.includes(u));
    setImmediate(() => this.emit('servicesDiscover', id, list));
  }

  discoverIncludedServices(id: string, svc: string): void {
    setImmediate(() => this.emit('includedServicesDiscover', id, svc, []));
  }

  discoverCharacteristics(id: string, svc: string, uuids: string[]): void {
    const d = this.need(id);
    if (!d) return;
    const s = d.dev.services.find((x) => x.uuid === svc);
    const list = (s?.characteristics ?? []).filter((c) => uuids.length === 0 || uuids.includes(c.uuid)).map((c) => ({ uuid: c.uuid, properties: c.properties }));
    setImmediate(() => this.emit('characteristicsDiscover', id, svc, list));
  }

  read(id: string, svc: string, ch: string): void {
    const d = this.need(id);
    if (!d) return;
    const c = this.char(d, svc, ch);
    setImmediate(() => this.emit('read', id, svc, ch, c?.value ?? Buffer.alloc(0), false));
  }

  write(id: string, svc: string, ch: string, data: Buffer, withoutResponse: boolean): void {
    this.calls.push(`write ${ch} ${data.toString('hex')}`);
    const d = this.need(id);
    if (!d) return;
    const c = this.char(d, svc, ch);
    setImmediate(() => {
      if (!withoutResponse) this.emit('write', id, svc, ch);
      c?.onWrite?.(data, this);
    });
  }

  broadcast(id: string, svc: string, ch: string, state: boolean): void {
    setImmediate(() => this.emit('broadcast', id, svc, ch, state));
  }

  notify(id: string, svc: string, ch: string, enable: boolean): void {
    this.calls.push(`notify ${ch} ${enable}`);
    const d = this.need(id);
    if (!d) return;
    if (enable) d.subscribed.add(key(svc, ch));
    else d.subscribed.delete(key(svc, ch));
    setImmediate(() => this.emit('notify', id, svc, ch, enable));
  }

  discoverDescriptors(id: string, svc: string, ch: string): void {
    setImmediate(() => this.emit('descriptorsDiscover', id, svc, ch, []));
  }

  readValue(id: string, svc: string, ch: string, desc: string): void {
    setImmediate(() => this.emit('valueRead', id, svc, ch, desc, Buffer.alloc(0)));
  }

  writeValue(id: string, svc: string, ch: string, desc: string): void {
    setImmediate(() => this.emit('valueWrite', id, svc, ch, desc));
  }

  readHandle(id: string, handle: number): void {
    setImmediate(() => this.emit('handleRead', id, handle, Buffer.alloc(0)));
  }

  writeHandle(id: string, handle: number): void {
    setImmediate(() => this.emit('handleWrite', id, handle));
  }

  reset(): void {
    this.calls.push('reset');
  }

  // ---- script ---------------------------------------------------------------------------
  /** Sends a notification if the device is connected and the characteristic subscribed. */
  notifyValue(id: string, svc: string, ch: string, data: Buffer): boolean {
    const d = this.devices.get(id);
    if (!d?.connected || !d.subscribed.has(key(svc, ch))) return false;
    this.emit('read', id, svc, ch, data, true);
    return true;
  }

  isSubscribed(id: string, svc: string, ch: string): boolean {
    const d = this.devices.get(id);
    return d?.connected === true && d.subscribed.has(key(svc, ch));
  }

  isConnected(id: string): boolean {
    return this.devices.get(id)?.connected === true;
  }

  /** The strap drops the link (out of range, battery contact bounce) and stops advertising. */
  drop(id: string): void {
    const d = this.devices.get(id);
    if (!d) return;
    d.inRange = false;
    if (d.connected) {
      d.connected = false;
      d.subscribed.clear();
      this.emit('disconnect', id, 0x08);
    }
  }

  /** The strap is back in range and advertising. */
  comeBack(id: string): void {
    const d = this.devices.get(id);
    if (d) d.inRange = true;
  }

  close(): void {
    clearInterval(this.advertiseTimer);
    this.advertiseTimer = undefined;
    this.scanning = false;
  }

  private advertiseAll(): void {
    if (!this.scanning) return;
    for (const d of this.devices.values()) {
      if (!d.inRange || d.connected) continue;
      const uuids = d.dev.advertised ?? d.dev.services.map((s) => s.uuid);
      if (this.scanFilter.length > 0 && !uuids.some((u) => this.scanFilter.includes(u))) continue;
      const adv = { localName: d.dev.name, serviceUuids: uuids, serviceData: [], manufacturerData: undefined, txPowerLevel: undefined };
      this.emit('discover', d.dev.id, d.dev.address, 'random', true, adv, d.dev.rssi, true);
    }
  }

  private need(id: string): DeviceState | undefined {
    const d = this.devices.get(id);
    // A request on a dropped link is never answered, as over the air.
    return d?.connected ? d : undefined;
  }

  private char(d: DeviceState, svc: string, ch: string): SimCharacteristic | undefined {
    return d.dev.services.find((s) => s.uuid === svc)?.characteristics.find((c) => c.uuid === ch);
  }
}
