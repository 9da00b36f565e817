//! The schema.

use super::*;

#[tokio::test]
async fn migrating_twice_is_harmless() {
    each_backend(async |store, _| {
        store.migrate().await.expect("migrate again");
        store.check_schema().await.expect("the schema is current");
    })
    .await;
}
