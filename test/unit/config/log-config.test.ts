import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';

const parse = (text: string): ReturnType<typeof parseConfig> => parseConfig(text, { filename: 'P', env: {} });

test('corpus 01: a global log with a flat format filter (ip_mask, delete, query) parses to the filters', async () => {
  const config = await parse(`{
	log {
		output stderr
		format filter {
			# Preserves first 8 bits from IPv4 and 32 bits from IPv6
			request>remote_ip ip_mask 8 32
			request>client_ip ip_mask 8 32

			# Remove identificable information
			request>remote_port delete
			request>headers delete
			request>uri query {
				delete url
				delete h
				delete q
			}
		}
	}
}
a.test {
	log
}
`);
  assert.deepEqual(config.globals.log, {
    output: { kind: 'stderr' },
    level: 'info',
    format: {
      kind: 'filter',
      fields: [
        { field: 'request>remote_ip', filter: 'ip_mask', ipv4: 8, ipv6: 32 },
        { field: 'request>client_ip', filter: 'ip_mask', ipv4: 8, ipv6: 32 },
        { field: 'request>remote_port', filter: 'delete' },
        { field: 'request>headers', filter: 'delete' },
        { field: 'request>uri', filter: 'query', actions: [{ type: 'delete', name: 'url' }, { type: 'delete', name: 'h' }, { type: 'delete', name: 'q' }] },
      ],
    },
  });
  // A bare site `log` logs through the global loggers, as Caddy's does.
  assert.equal(config.sites[0]?.log?.shared, true);
});

test('corpus 43: a snippet log with roll_* and a filter with wrap json; roll sizes and ages at Caddy resolution', async () => {
  const config = await parse(`(access_log) {
	log {
		output file /data/access-{args[0]}.log {
			roll_size 25MiB
			roll_keep 7
			roll_keep_for 168h
		}
		format filter {
			request>uri query {
				hash code
				hash state
				hash session_state
			}
			wrap json
		}
	}
}
login.example.com {
	import access_log login
	respond "x"
}
`);
  const log = config.sites[0]?.log;
  assert.deepEqual(log?.output, {
    kind: 'file',
    path: '/data/access-login.log',
    roll: { enabled: true, sizeBytes: 25 * 1024 ** 2, keep: 7, keepDays: 7, localTime: false, compress: true },
  });
  assert.deepEqual(log?.format, {
    kind: 'filter',
    wrap: 'json',
    fields: [{ field: 'request>uri', filter: 'query', actions: ['code', 'state', 'session_state'].map((name) => ({ type: 'hash', name })) }],
  });
  assert.equal(log?.shared, undefined);
});

test('corpus 15, 16, 42, 33, 49: roll sizes in MB/MiB, output discard, format append, log default', async () => {
  const config = await parse(`{
	log default {
		output file /var/log/caddy/caddy.log
		format console
	}
}
a.test {
	log {
		output file /var/log/caddy/pterodactyl.log {
			roll_size 100MiB
			roll_keep_for 7d
		}
		level INFO
	}
}
b.test {
	log {
		level INFO
		output file /tmp/vw.log {
			roll_size 10MB
			roll_keep 10
		}
	}
}
c.test {
	log {
		output discard
	}
}
d.test {
	log {
		format append {
			server_id d.example
		}
	}
}
`);
  assert.deepEqual(config.globals.log.output, { kind: 'file', path: '/var/log/caddy/caddy.log' });
  assert.equal(config.globals.log.format, 'console');
  const [a, b, c, d] = config.sites.map((s) => s.log);
  assert.deepEqual(a?.output, { kind: 'file', path: '/var/log/caddy/pterodactyl.log', roll: { enabled: true, sizeBytes: 100 * 1024 ** 2, keep: 10, keepDays: 7, localTime: false, compress: true } });
  // 10MB is 9.54 MiB: Caddy rounds up to whole MiB.
  assert.equal(b?.output.kind === 'file' ? b.output.roll?.sizeBytes : undefined, 10 * 1024 ** 2);
  assert.equal(b?.level, 'info');
  assert.deepEqual(c?.output, { kind: 'discard' });
  assert.deepEqual(d?.format, { kind: 'append', fields: [{ name: 'server_id', value: 'd.example' }] });
});

test('named loggers: log NAME { include … exclude … }, site log NAME, roll_disabled, roll_uncompressed, roll_local_time, mode', async () => {
  const config = await parse(`{
	log {
		exclude http.log.access
	}
	log access {
		include http.log.access.foo http.log.access.bar
		output file /tmp/acc.log {
			roll_disabled
			mode 0640
		}
		format json
	}
	log other {
		output file /tmp/o.log {
			roll_uncompressed
			roll_local_time
		}
		level debug
	}
}
foo.test {
	log foo
}
`);
  assert.deepEqual(config.globals.log, { exclude: ['http.log.access'], output: { kind: 'stderr' }, level: 'info' });
  assert.deepEqual(config.globals.loggers, [
    {
      include: ['http.log.access.foo', 'http.log.access.bar'],
      output: { kind: 'file', path: '/tmp/acc.log', roll: { enabled: false, sizeBytes: 100 * 1024 ** 2, keep: 10, keepDays: 90, localTime: false, compress: true }, mode: 0o640 },
      format: 'json',
      name: 'access',
      level: 'info',
    },
    {
      output: { kind: 'file', path: '/tmp/o.log', roll: { enabled: true, sizeBytes: 100 * 1024 ** 2, keep: 10, keepDays: 90, localTime: true, compress: false } },
      level: 'debug',
      name: 'other',
    },
  ]);
  assert.equal(config.sites[0]?.log?.name, 'foo');
  assert.equal(config.sites[0]?.log?.shared, true);
});

/** Each bad input, and the FILE:LINE:COL error it must give. */
const ERRORS: readonly [string, string, RegExp][] = [
  ['output net', 'a.test {\n\tlog {\n\t\toutput net localhost:9999\n\t}\n}\n', /^P:3:10: output net is not supported/],
  ['unknown output', 'a.test {\n\tlog {\n\t\toutput syslog\n\t}\n}\n', /^P:3:10: unsupported log output "syslog"/],
  ['file without path', 'a.test {\n\tlog {\n\t\toutput file\n\t}\n}\n', /^P:3:10: output file: missing PATH/],
  ['bad roll_size', 'a.test {\n\tlog {\n\t\toutput file /tmp/x {\n\t\t\troll_size lots\n\t\t}\n\t}\n}\n', /^P:4:14: roll_size: invalid size "lots"/],
  ['bad roll_keep', 'a.test {\n\tlog {\n\t\toutput file /tmp/x {\n\t\t\troll_keep -1\n\t\t}\n\t}\n}\n', /^P:4:14: roll_keep: invalid number "-1"/],
  ['bad roll_keep_for', 'a.test {\n\tlog {\n\t\toutput file /tmp/x {\n\t\t\troll_keep_for soon\n\t\t}\n\t}\n}\n', /^P:4:18: roll_keep_for: invalid duration "soon"/],
  ['roll_disabled with an argument', 'a.test {\n\tlog {\n\t\toutput file /tmp/x {\n\t\t\troll_disabled yes\n\t\t}\n\t}\n}\n', /^P:4:18: roll_disabled: unexpected argument "yes"/],
  ['unknown file option', 'a.test {\n\tlog {\n\t\toutput file /tmp/x {\n\t\t\troll_often\n\t\t}\n\t}\n}\n', /^P:4:4: unknown subdirective "roll_often" in output file/],
  ['bad mode', 'a.test {\n\tlog {\n\t\toutput file /tmp/x {\n\t\t\tmode 0999\n\t\t}\n\t}\n}\n', /^P:4:9: mode: invalid file mode "0999"/],
  ['unknown format', 'a.test {\n\tlog {\n\t\tformat logfmt\n\t}\n}\n', /^P:3:10: unsupported log format "logfmt"/],
  ['filter without block', 'a.test {\n\tlog {\n\t\tformat filter\n\t}\n}\n', /^P:3:10: format filter needs a block/],
  ['unknown filter', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\trequest>uri scramble\n\t\t}\n\t}\n}\n', /^P:4:16: unknown log filter "scramble" for request>uri/],
  ['field without filter', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\trequest>uri\n\t\t}\n\t}\n}\n', /^P:4:4: format filter: "request>uri" needs a filter/],
  ['fundamental field', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\tmsg delete\n\t\t}\n\t}\n}\n', /^P:4:4: format filter: "msg" is written by the logger itself/],
  ['ip_mask out of range', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\trequest>remote_ip ip_mask 33\n\t\t}\n\t}\n}\n', /^P:4:30: ip_mask: invalid ipv4 prefix length "33" \(0-32\)/],
  ['ip_mask unknown sub', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\tf ip_mask {\n\t\t\t\tipv5 8\n\t\t\t}\n\t\t}\n\t}\n}\n', /^P:5:5: ip_mask: unknown subdirective "ipv5"/],
  ['query without block', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\trequest>uri query\n\t\t}\n\t}\n}\n', /^P:4:16: query needs a block/],
  ['query unknown action', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\trequest>uri query {\n\t\t\t\tscramble x\n\t\t\t}\n\t\t}\n\t}\n}\n', /^P:5:5: unknown action "scramble"/],
  ['cookie replace without value', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\tc cookie {\n\t\t\t\treplace x\n\t\t\t}\n\t\t}\n\t}\n}\n', /^P:5:5: replace: missing argument/],
  ['bad regexp', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\tf regexp "(" x\n\t\t}\n\t}\n}\n', /^P:4:13: invalid regexp "\("/],
  ['rename without key', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\tf rename\n\t\t}\n\t}\n}\n', /^P:4:4: f: missing argument/],
  ['append field without value', 'a.test {\n\tlog {\n\t\tformat append {\n\t\t\tserver_id\n\t\t}\n\t}\n}\n', /^P:4:4: server_id: missing argument/],
  ['bad wrap', 'a.test {\n\tlog {\n\t\tformat filter {\n\t\t\twrap yaml\n\t\t}\n\t}\n}\n', /^P:4:9: unsupported log format "yaml"/],
  ['json options', 'a.test {\n\tlog {\n\t\tformat json {\n\t\t\ttime_format iso8601\n\t\t}\n\t}\n}\n', /^P:3:15: format json: encoder options .* are not supported/],
  ['bad level', 'a.test {\n\tlog {\n\t\tlevel loud\n\t}\n}\n', /^P:3:9: unsupported log level "loud"/],
  ['include in a site log', 'a.test {\n\tlog {\n\t\tinclude tls\n\t}\n}\n', /^P:3:3: include is a subdirective of the log global option/],
  ['hostnames', 'a.test {\n\tlog {\n\t\thostnames b.test\n\t}\n}\n', /^P:3:3: log: "hostnames" is not supported/],
  ['two outputs', 'a.test {\n\tlog {\n\t\toutput stdout\n\t\toutput stderr\n\t}\n}\n', /^P:4:3: output is already set at P:3:3/],
  ['same named logger twice', '{\n\tlog a {\n\t\toutput stdout\n\t}\n\tlog a {\n\t\toutput stderr\n\t}\n}\n', /^P:5:6: log a is already set/],
  ['default logger twice', '{\n\tlog {\n\t\tlevel info\n\t}\n\tlog default {\n\t\tlevel debug\n\t}\n}\n', /^P:5:6: log default is already set/],
  ['bad logger name', '{\n\tlog {\n\t\tinclude "http log"\n\t}\n}\n', /^P:3:11: invalid logger name "http log"/],
];

for (const [name, text, want] of ERRORS) {
  test(`log config error: ${name}`, async () => {
    await assert.rejects(parse(text), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, want);
      return true;
    });
  });
}
