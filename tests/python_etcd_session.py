# python-etcd (Debian python3-etcd, the v2 client patroni and older tools use): a scripted
# session of writes, compare-and-swap, in-order keys, TTL, watch and lock; tests/v2keys.rs
# runs it against Debian's etcd and ours and compares what it prints.
import sys, etcd, time
host, port = sys.argv[1], int(sys.argv[2])
c = etcd.Client(host=host, port=port, protocol='http')
def show(label, f):
    try:
        r = f()
        if isinstance(r, etcd.EtcdResult):
            print(label, r.action, r.key, r.value, r.dir, r.ttl is not None, [ (ch.key, ch.value) for ch in r.leaves ] if r.dir else '')
        else:
            print(label, r)
    except Exception as e:
        print(label, type(e).__name__, str(e).split(' : ')[0])
show('write', lambda: c.write('/py/a', 'one'))
show('read', lambda: c.read('/py/a'))
show('update-cas-ok', lambda: c.write('/py/a', 'two', prevValue='one'))
show('update-cas-bad', lambda: c.write('/py/a', 'three', prevValue='one'))
show('create-exists', lambda: c.write('/py/a', 'x', prevExist=False))
show('append', lambda: c.write('/py/q', 'job', append=True).value)
show('dir', lambda: c.write('/py/d', None, dir=True))
show('ls', lambda: c.read('/py', recursive=True, sorted=True))
show('missing', lambda: c.read('/py/nothing'))
show('ttl', lambda: c.write('/py/t', 'v', ttl=1))
time.sleep(2.5)
show('expired', lambda: c.read('/py/t'))
show('delete', lambda: c.delete('/py/a'))
show('delete-dir', lambda: c.delete('/py', recursive=True, dir=True))
show('get-after', lambda: c.read('/py'))
idx = c.write('/w', 'first').modifiedIndex
c.write('/w', 'second')
show('watch-history', lambda: c.watch('/w', index=idx + 1, timeout=5).value)
lock = etcd.Lock(c, 'mylock')
lock.acquire(lock_ttl=10)
print('locked', lock.is_acquired)
lock.release()
print('released', lock.is_acquired)
