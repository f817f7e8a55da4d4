//! The store as the peer transport sees it (`peer::LocalState`): snapshots streamed to a
//! lagging peer, HashKV for a peer's corruption check, the member list for a joining member.

use crate::mvcc::snapshot::DumpError;
use crate::mvcc::Store;
use crate::pb::etcdserverpb::Member;
use crate::peer::{Answer, Dumped, LocalState};
use smol::channel::Sender;

impl LocalState for Store {
    fn members(&self) -> Result<Vec<Member>, String> {
        let txn = self.read_txn().map_err(|e| e.to_string())?;
        crate::apply::membership::list(self, &txn).map_err(|e| format!("{e:?}"))
    }

    fn hash_kv(&self, revision: i64) -> Answer {
        match self.hash_kv_at(revision) {
            Ok((_, hashed)) => Answer::Hashed(hashed),
            Err(error) => {
                let status = crate::status::Status::from(error);
                Answer::Refused {
                    code: status.code as u32,
                    message: status.message,
                }
            }
        }
    }

    /// One read transaction: the point it sees, then its chunks.
    fn dump(&self, chunk_bytes: usize, out: &Sender<Dumped>) {
        let result = self.read_txn().map_err(DumpError::Store).and_then(|txn| {
            let point = self.dump_point(&txn).map_err(DumpError::Store)?;
            out.send_blocking(Dumped::Point(point))
                .map_err(DumpError::Sink)?;
            self.dump(&txn, chunk_bytes, |chunk| {
                out.send_blocking(Dumped::Chunk(chunk))
            })
        });
        if let Err(DumpError::Store(e)) = result {
            let _ = out.send_blocking(Dumped::Failed(e.to_string()));
        }
    }
}
