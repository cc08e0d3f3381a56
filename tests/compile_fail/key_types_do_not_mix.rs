// Proves: keys of two key types do not mix. A key of one arena's key type is not accepted
// by an arena of another key type, and a plain `Key` is not a typed key without an explicit
// conversion (at run time such a key would name whatever the other arena holds at its
// index). Expected: E0308 mismatched types, three times.

use epoch_arena::{new_key_type, pin, Arena, Key};

new_key_type! {
    struct NodeId;
    struct StyleId;
}

fn main() {
    let nodes: Arena<&str, NodeId> = Arena::default();
    let styles: Arena<u32, StyleId> = Arena::default();
    let plain: Arena<u8> = Arena::new();
    let style: StyleId = styles.insert(700);
    let node: NodeId = nodes.insert("div");
    let guard = pin();
    // A StyleId is not a NodeId ...
    let _ = nodes.get(style, &guard);
    // ... nor is a NodeId a plain Key ...
    plain.remove(node);
    // ... and a plain Key is not a NodeId without an explicit conversion.
    let key: Key = plain.insert(1);
    nodes.remove(key);
}
