//! The publish journal conformance suite on the memory journal.

beams_core::publish_journal_conformance!(async || beams_core::MemoryPublishJournal::new());
