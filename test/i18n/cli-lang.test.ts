/**
 * The technician's language, as the built CLI speaks it: LANG=es_ES.UTF-8 (or LC_ALL, or
 * --lang es) gives Spanish text, --lang en English whatever the locale, and --json is the same
 * bytes in both (codes and numbers, no translated words). Failure paths a technician meets:
 * a sensor that is not there, an HC-05 address mistyped, a daemon that is not running.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../daemon/helpers.js';
import { en } from '../../src/i18n/en.js';
import { es } from '../../src/i18n/es.js';
import { ALARM_TEXT, alarmText, langFromEnv, takeLangFlag } from '../../src/i18n/index.js';
import { PtyPair } from '../helpers/pty.js';

const CLI = join(REPO, 'dist/src/cli/main.js');
const BASE_ENV = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' };

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...BASE_ENV, ...env }, timeout: 60_000 });
}

describe('language from the locale and --lang', () => {
  it('follows LC_ALL over LC_MESSAGES over LANG, and MOTOBIO_LANG (set from --lang) over all', () => {
    expect(langFromEnv({ LANG: 'es_ES.UTF-8' })).toBe('es');
    expect(langFromEnv({ LANG: 'es_MX.UTF-8', LC_ALL: 'C' })).toBe('en');
    expect(langFromEnv({ LANG: 'en_GB.UTF-8', LC_MESSAGES: 'es_AR.UTF-8' })).toBe('es');
    expect(langFromEnv({ LC_ALL: 'es', LC_MESSAGES: 'en_US.UTF-8' })).toBe('es');
    expect(langFromEnv({ LANG: 'es_ES.UTF-8', MOTOBIO_LANG: 'en' })).toBe('en');
    expect(langFromEnv({ LANG: 'estonian' })).toBe('en');
    expect(langFromEnv({})).toBe('en');
    expect(takeLangFlag(['status', '--lang', 'es', '--json'])).toEqual({ argv: ['status', '--json'], lang: 'es' });
    expect(takeLangFlag(['--lang=en', 'scan'])).toEqual({ argv: ['scan'], lang: 'en' });
    expect(() => takeLangFlag(['--lang', 'fr'])).toThrow(/--lang must be es or en, got "fr"/);
  });
});

describe('every alarm code has its text in both languages', () => {
  it('reads the codes from src/core/alarms.ts, so a new code without texts fails here too', () => {
    const src = readFileSync(join(REPO, 'src/core/alarms.ts'), 'utf8');
    const union = src.slice(src.indexOf('export type AlarmCode'), src.indexOf('export interface Alarm '));
    const codes = [...union.matchAll(/\|\s*'([A-Z_]+)'/g)].map((m) => m[1]);
    expect(codes.length).toBeGreaterThanOrEqual(7);
    expect(Object.keys(ALARM_TEXT).sort()).toEqual([...codes].sort());
    for (const code of codes) {
      const e = alarmText(code, 'en');
      const s = alarmText(code, 'es');
      expect(e, code).not.toBe(code);
      expect(s, code).not.toBe(code);
      expect(s, code).not.toBe(e);
      expect(s.length, code).toBeGreaterThan(30);
    }
  });

  it('every key of en is in es with the same kind of value', () => {
    for (const k of Object.keys(en) as (keyof typeof en)[]) expect(typeof es[k], k).toBe(typeof en[k]);
    expect(Object.keys(es).sort()).toEqual(Object.keys(en).sort());
  });
});

describe('motobio in Spanish and English', () => {
  it('test bluetooth on a port that is not there: Spanish verdict with LANG=es_ES.UTF-8, English with --lang en, the same JSON', () => {
    const args = ['test', 'bluetooth', '--device', '/nonexistent', '--seconds', '1'];
    const esr = cli(args, { LANG: 'es_ES.UTF-8' });
    expect(esr.status).toBe(1);
    expect(esr.stdout).toMatch(/^dispositivo +\/nonexistent/m);
    expect(esr.stdout).toMatch(/^frecuencia cardiaca +s\/d$/m);
    expect(esr.stdout).toMatch(/^calidad de señal +s\/d$/m);
    expect(esr.stdout).toMatch(/^resultado +NO APTO: ninguna muestra de ECG en 1 s \(último problema: .*\/nonexistent.*\): compruebe que el dispositivo esté alimentado, al alcance y transmitiendo$/m);
    const enr = cli([...args, '--lang', 'en'], { LANG: 'es_ES.UTF-8' });
    expect(enr.status).toBe(1);
    expect(enr.stdout).toMatch(/^result +FAIL: no ECG samples in 1 s/m);
    expect(enr.stdout).not.toMatch(/ninguna|resultado/);

    const jes = cli([...args, '--json'], { LC_ALL: 'es_ES.UTF-8' });
    const jen = cli([...args, '--json', '--lang', 'en']);
    const a = JSON.parse(jes.stdout) as Record<string, unknown>;
    const b = JSON.parse(jen.stdout) as Record<string, unknown>;
    expect(a['reasonCode']).toBe('reason.noSamples');
    expect(a['reasonParams']).toMatchObject({ seconds: 1 });
    // Everything but the measured rate is the same in both: no translated word in the JSON.
    const strip = (o: Record<string, unknown>) => JSON.stringify({ ...o, status: { ...(o['status'] as object), measuredFs: 0 } });
    expect(strip(a)).toBe(strip(b));
    expect(jes.stdout).not.toMatch(/muestra|compruebe|resultado/);
  }, 60_000);

  it('pair hc05 with a mistyped address: Spanish step name and fix, exit 64', () => {
    const r = cli(['pair', 'hc05', '98:D3:31:F5:9A'], { LANG: 'es_ES.UTF-8' });
    expect(r.status).toBe(64);
    expect(r.stdout).toContain('[FALLO] dirección: «98:D3:31:F5:9A» no es una dirección Bluetooth');
    expect(r.stdout).toMatch(/solución: indique la dirección del módulo como seis pares hexadecimales, p\. ej\. 98:D3:31:F5:9A:2C/);
    expect(r.stdout).toContain('detenido en el paso «dirección».');
    const j = cli(['pair', 'hc05', '98:D3:31:F5:9A', '--json'], { LANG: 'es_ES.UTF-8' });
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, failed: { step: 'address', problem: 'BAD_ADDRESS', params: { value: '98:D3:31:F5:9A' } } });
    expect(j.stdout).not.toMatch(/dirección|solución/);
    const en = cli(['--lang', 'en', 'pair', 'hc05', '98:D3:31:F5:9A'], { LANG: 'es_ES.UTF-8' });
    expect(en.stdout).toContain('[FAILED] address: "98:D3:31:F5:9A" is not a Bluetooth address');
  });

  it('status with nothing running: Spanish with LC_MESSAGES=es_MX.UTF-8, exit 3; --json the same in both', () => {
    const url = 'http://127.0.0.1:9';
    const r = cli(['status', '--url', url], { LC_MESSAGES: 'es_MX.UTF-8' });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`motobio no está en marcha: nadie responde en ${url}/status`);
    expect(r.stderr).toContain('Arránquelo con "systemctl start motobio" (o "motobio run"); "journalctl -u motobio" indica por qué se detuvo.');
    const en = cli(['status', '--url', url, '--lang', 'en'], { LC_MESSAGES: 'es_MX.UTF-8' });
    expect(en.stderr).toContain('motobio is not running');
    const ja = cli(['status', '--url', url, '--json'], { LANG: 'es_ES.UTF-8' });
    const jb = cli(['status', '--url', url, '--json'], { LANG: 'C' });
    expect(ja.stdout).toBe(jb.stdout);
    expect(JSON.parse(ja.stdout)).toMatchObject({ running: false, url });
  });

  it('calibrate ecg on a port that stays silent (a real pty): the summary in Spanish, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-cal-es-'));
    const pty = new PtyPair(dir);
    try {
      await pty.plug();
      const r = cli(['calibrate', 'ecg', '--device', pty.devicePath, '--seconds', '10', '--dir', dir], { LANG: 'es_ES.UTF-8' });
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(`conectando con ${pty.devicePath}`);
      expect(r.stdout).toMatch(/^frecuencia de muestreo +250 Hz medidos, 250 Hz nominales$/m);
      expect(r.stdout).toMatch(/^electrodos sueltos +nunca$/m);
      expect(r.stdout).toMatch(/^resultado +NO APTO: /m);
    } finally {
      await pty.unplug();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a --lang the CLI does not speak is a usage error that names the choices', () => {
    const r = cli(['--lang', 'fr', 'status']);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/--lang must be es or en, got "fr"/);
  });
});
