//! What gRPC looks like on the wire, shared by the server (api/) and the client applets
//! (client/): the HTTP body type every exchange uses, and gRPC's length-prefixed message
//! framing. Status codes and texts are `src/status.rs` and `src/grpc_codes.rs`.

mod body;
mod frame;

pub use body::Body;
pub use frame::{
    announced_length, frame_encoded_len, frame_message, frame_with_tail, next_message, FrameError,
    PREFIX_BYTES,
};
