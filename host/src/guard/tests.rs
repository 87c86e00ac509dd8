use super::CountedBy;

#[test]
fn counted_by_reads_back_what_the_api_writes() {
    // The CLI reads `counted_by` from the server's JSON: every name the API
    // writes must read back as the same variant.
    for (variant, name) in [
        (CountedBy::ThisInstance, "this_instance"),
        (CountedBy::SharedStore, "shared_store"),
        (
            CountedBy::ThisInstanceStoreUnreachable,
            "this_instance_store_unreachable",
        ),
    ] {
        let written = serde_json::to_value(variant).expect("serializes");
        assert_eq!(written, name);
        let read: CountedBy = serde_json::from_value(written).expect("reads back");
        assert_eq!(read, variant);
    }
}
