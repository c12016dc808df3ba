//! The conformance suite every [`DeviceStore`](crate::DeviceStore) backend runs.
//!
//! Each rule of the trait's `# Contract` is one public async function here, taking a freshly
//! opened, empty store. [`device_store_conformance!`](crate::device_store_conformance) turns
//! them all into one named `#[tokio::test]` each, so a failing test names the broken rule.
//! The invoking crate needs `tokio` (features `macros`, `rt-multi-thread`) as a
//! dev-dependency.
//!
//! ```
//! mod conformance {
//!     // Your store's `open` in place of the memory store's.
//!     beams_core::device_store_conformance!(async || beams_core::MemoryDeviceStore::new());
//! }
//! ```

mod association;
mod dead_tokens;
pub mod fixtures;
mod guarded;
mod interests;
mod journal;
mod limits;
mod registration;
mod round_trip;
mod updates;
mod users;

pub use association::*;
pub use dead_tokens::*;
pub use guarded::Guarded;
pub use interests::*;
pub use journal::*;
pub use limits::*;
pub use registration::*;
pub use round_trip::*;
pub use updates::*;
pub use users::*;

/// Generates one `#[tokio::test]` per conformance rule for a store.
///
/// The first argument is an async closure that opens a fresh, empty store. The optional
/// `reopen:` argument is an async closure that opens the store persisted under a directory it
/// is given, and adds the `data_survives_reopen` rule. For a store that needs a server the
/// machine may not run, `where_available: open` takes a closure answering `Option` of a
/// store: `None` passes the rule without running it (the closure says why, once).
#[macro_export]
macro_rules! device_store_conformance {
    (where_available: $open:expr $(,)?) => {
        $crate::device_store_conformance!(@each (where_available) $open);
    };
    ($open:expr $(,)?) => {
        $crate::device_store_conformance!(@each (always) $open);
    };
    ($open:expr, reopen: $reopen:expr $(,)?) => {
        $crate::device_store_conformance!($open);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn data_survives_reopen() {
            $crate::testing::data_survives_reopen($reopen).await;
        }
    };
    (@each $mode:tt $open:expr) => {
        $crate::device_store_conformance!(@rules $mode $open;
            registered_device_can_be_read_back,
            unknown_device_reads_as_none,
            registering_a_known_token_renews_its_device,
            a_known_web_endpoint_with_other_keys_is_refused,
            a_known_fcm_token_of_a_signed_in_device_is_refused,
            push_tokens_are_unique_per_platform,
            a_registration_of_mixed_platforms_is_refused,
            removing_a_device_removes_it_everywhere,
            association_links_device_and_user,
            reassociating_with_the_same_user_changes_nothing,
            association_with_another_user_is_refused,
            association_of_an_unknown_device_is_none,
            limit_evicts_the_longest_associated_device,
            limit_refuses_when_the_policy_says_refuse,
            limit_counts_each_platform_separately,
            limit_holds_under_concurrent_associations,
            concurrent_associations_of_one_device_pick_one_user,
            devices_of_a_user_are_listed_in_association_order,
            devices_of_many_users_in_one_call,
            removing_a_user_removes_all_their_devices,
            dead_token_removes_its_device,
            dead_token_spares_a_reregistered_device,
            dead_token_for_an_unknown_token_removes_nothing,
            large_user_with_full_platforms,
            unicode_and_longest_user_ids,
            device_fields_round_trip,
            metadata_can_be_replaced,
            a_token_can_be_refreshed,
            a_refreshed_token_moves_from_the_device_that_had_it,
            a_token_of_another_platform_is_refused,
            interests_can_be_added_removed_and_listed,
            setting_interests_replaces_the_whole_set,
            adding_beyond_the_maximum_is_refused,
            interest_calls_on_an_unknown_device,
            a_device_in_several_published_interests_is_found_once,
            removing_a_device_removes_its_subscriptions,
            a_renewed_device_keeps_its_interests,
            concurrent_subscriptions_stay_consistent,
        );
    };
    (@rules (always) $open:expr; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $rule() {
                let open = $open;
                let store = open().await;
                $crate::testing::$rule(store).await;
            }
        )*
    };
    (@rules (where_available) $open:expr; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $rule() {
                let open = $open;
                let Some(store) = open().await else {
                    return;
                };
                $crate::testing::$rule(store).await;
            }
        )*
    };
}

/// Generates one `#[tokio::test]` per rule of the [`PublishJournal`](crate::PublishJournal)
/// contract for a journal: the argument is an async closure that opens a fresh, empty one.
/// `where_available: open` takes a closure answering `Option` of a journal, as
/// [`device_store_conformance!`](crate::device_store_conformance) does.
#[macro_export]
macro_rules! publish_journal_conformance {
    (where_available: $open:expr $(,)?) => {
        $crate::publish_journal_conformance!(@each (where_available) $open);
    };
    ($open:expr $(,)?) => {
        $crate::publish_journal_conformance!(@each (always) $open);
    };
    (@each $mode:tt $open:expr) => {
        $crate::device_store_conformance!(@rules $mode $open;
            an_accepted_publish_reads_back_unfinished_and_leased,
            an_unknown_publish_reads_as_none,
            accepting_an_id_twice_is_refused,
            accepting_past_the_bound_is_refused,
            a_checkpoint_keeps_progress_and_renews_the_lease,
            only_the_owner_checkpoints_renews_or_finishes,
            a_finished_publish_keeps_its_report,
            claims_take_lapsed_leases_oldest_first,
            a_node_takes_its_own_publishes_back,
            concurrent_claims_take_each_publish_once,
            unfinished_counts_what_is_not_finished,
            forgetting_removes_reports_finished_before_a_time,
        );
    };
}
