use job_core::prelude::*;

struct Secret;

#[job]
async fn opaque() -> Result<(), Secret> {
    Err(Secret)
}

fn main() {}
