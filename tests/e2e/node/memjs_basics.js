// memjs (a binary-protocol client, unmodified from npm) against a server:
//   node memjs_basics.js HOST:PORT
// set/get, add/replace, delete, incr/decr, append, touch, stats, flush.
// Prints "memjs: ok" and exits 0 when every check holds; names the first failure and
// exits 1 otherwise.
'use strict';
const memjs = require('memjs');

const server = process.argv[2];
const client = memjs.Client.create(server, { retries: 0, timeout: 2, logger: { log() {} } });

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
function str(buf) { return buf === null ? null : buf.toString(); }

async function main() {
  await client.flush();
  check((await client.set('e2e:a', 'alpha', {})) === true, 'set a');
  check(str((await client.get('e2e:a')).value) === 'alpha', 'get a');
  check((await client.get('e2e:none')).value === null, 'get missing is null');
  const big = 'x'.repeat(100000);
  check((await client.set('e2e:big', big, {})) === true, 'set 100 kB');
  check(str((await client.get('e2e:big')).value) === big, 'get 100 kB');

  check((await client.add('e2e:a', 'again', {})) === false, 'add on an existing key is refused');
  check((await client.add('e2e:new', 'n', {})) === true, 'add new');
  check((await client.replace('e2e:new', 'n2', {})) === true, 'replace');
  check(str((await client.get('e2e:new')).value) === 'n2', 'get replaced');
  check((await client.delete('e2e:new')) === true, 'delete');
  check((await client.get('e2e:new')).value === null, 'deleted is gone');

  const inc = await client.increment('e2e:ctr', 5, { initial: 10 });
  check(inc.success && inc.value === 10, 'incr creates with initial, got ' + inc.value);
  const inc2 = await client.increment('e2e:ctr', 5, {});
  check(inc2.value === 15, 'incr +5 gives 15, got ' + inc2.value);
  const dec = await client.decrement('e2e:ctr', 20, {});
  check(dec.value === 0, 'decr saturates at 0, got ' + dec.value);

  check((await client.append('e2e:a', '-omega')) === true, 'append');
  // memjs 1.3.2's prepend() sends the APPEND opcode (0x0e), so it is not checked here
  // (pylibmc covers prepend).
  const ap = str((await client.get('e2e:a')).value);
  check(ap === 'alpha-omega', 'append value: ' + ap);

  check((await client.touch('e2e:a', 100)) === true, 'touch existing');
  check((await client.touch('e2e:nokey', 100)) === false, 'touch missing');

  const keys = [];
  for (let i = 0; i < 200; ++i) keys.push('e2e:k' + i);
  await Promise.all(keys.map((k, i) => client.set(k, 'v' + i, {})));
  const got = await Promise.all(keys.map((k) => client.get(k)));
  got.forEach((g, i) => check(str(g.value) === 'v' + i, 'pipelined get ' + keys[i]));

  const stats = await new Promise((resolve, reject) => {
    client.stats((err, srv, s) => (err ? reject(err) : resolve(s)));
  });
  check(stats && 'curr_items' in stats, 'stats has curr_items');

  await client.flush();
  check((await client.get('e2e:a')).value === null, 'flush empties');
  check((await client.get('e2e:k7')).value === null, 'flush empties k7');
  console.log('memjs: ok');
}

main().then(
  () => { client.close(); process.exit(0); },
  (e) => { console.error('memjs: ' + e.message); client.close(); process.exit(1); });
