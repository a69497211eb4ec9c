using System.Collections;
using System.Runtime.CompilerServices;

namespace Bridge.Connections;

/// <summary>
/// A Python <c>tuple</c> read by <see cref="PickleValues"/>: read-only, compared item by item (so it
/// can be a dictionary key, as in Python), and written back as a tuple (every <see cref="ITuple"/> is).
/// </summary>
public sealed class PickleTuple : IReadOnlyList<object?>, ITuple, IEquatable<PickleTuple>
{
    private readonly object?[] _items;

    /// <summary>A tuple of <paramref name="items"/> (the array is copied).</summary>
    public PickleTuple(params object?[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        _items = (object?[])items.Clone();
    }

    private PickleTuple(object?[] items, bool owned) => _items = owned ? items : (object?[])items.Clone();

    internal static PickleTuple Own(object?[] items) => new(items, owned: true);

    /// <summary>The number of items.</summary>
    public int Count => _items.Length;

    /// <inheritdoc/>
    public int Length => _items.Length;

    /// <summary>The item at <paramref name="index"/>.</summary>
    /// <exception cref="IndexOutOfRangeException">Out of range.</exception>
    public object? this[int index] => _items[index];

    /// <inheritdoc/>
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    /// <summary>Item-wise equality (nested tuples and byte arrays compare by content; lists and dictionaries by reference).</summary>
    public bool Equals(PickleTuple? other) =>
        other is not null && (ReferenceEquals(this, other) || StructuralComparisons.StructuralEqualityComparer.Equals(_items, other._items));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PickleTuple t && Equals(t);

    /// <inheritdoc/>
    public override int GetHashCode() => StructuralComparisons.StructuralEqualityComparer.GetHashCode(_items);

    /// <summary>Python's repr-like text: <c>(1, 'a')</c>.</summary>
    public override string ToString() =>
        "(" + string.Join(", ", _items.Select(i => i switch { null => "None", string s => $"'{s}'", _ => i.ToString() })) + (_items.Length == 1 ? ",)" : ")");
}
