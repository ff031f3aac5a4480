//! FIFO queues: a batch is split into its message groups, which run
//! concurrently while each group's messages run one after another in receive
//! order; when one of them is returned for a retry (or could not be
//! dead-lettered), the rest of its group goes back with it, in the same
//! request, never before it.

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};

use super::deleter::Deleter;
use super::{Consumer, Slotted};

/// The message's FIFO group (`MessageGroupId`), if any.
pub(super) fn group_id(message: &Message) -> Option<String> {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned()
}

/// Splits `items` into groups by `key`, keeping the receive order inside each group
/// and the order of first appearance between groups.
pub(super) fn group_in_order<T, K: PartialEq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<Vec<T>> {
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for item in items {
        let k = key(&item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, list)) => list.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups.into_iter().map(|(_, list)| list).collect()
}

impl Consumer {
    /// Processes one group in order. The members waiting their turn stay
    /// held (the heartbeat keeps them invisible) until processed or returned.
    pub(super) async fn process_group(&self, group: Vec<Slotted>, deleter: &Deleter) {
        let mut rest = group.into_iter();
        while let Some((m, permit)) = rest.next() {
            let receipt = m.receipt_handle().unwrap_or_default().to_owned();
            let retry_after = self.process(m, deleter).await;
            drop(permit);
            if let Some(delay) = retry_after {
                // Later messages of the group must not overtake the returned
                // one: they go back with it, in the same request.
                let later: Vec<String> = rest
                    .map(|(m, _)| m.receipt_handle().unwrap_or_default().to_owned())
                    .collect();
                // Not before an extension of theirs in flight has ended.
                self.held.let_go(&later).await;
                if !later.is_empty() {
                    tracing::info!(
                        count = later.len(),
                        "returning later messages of a failed FIFO group with it"
                    );
                }
                let mut receipts = vec![receipt];
                receipts.extend(later);
                self.release(receipts, delay).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_receive_order() {
        let items = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5), ("a", 6)];
        let groups = group_in_order(items, |(g, _)| *g);
        let numbers: Vec<Vec<i32>> = groups
            .iter()
            .map(|g| g.iter().map(|(_, n)| *n).collect())
            .collect();
        assert_eq!(numbers, vec![vec![1, 3, 6], vec![2, 5], vec![4]]);
    }

    #[test]
    fn reads_the_group() {
        let grouped = Message::builder()
            .attributes(MessageSystemAttributeName::MessageGroupId, "g1")
            .build();
        assert_eq!(group_id(&grouped).as_deref(), Some("g1"));
        assert_eq!(group_id(&Message::builder().build()), None);
    }
}
