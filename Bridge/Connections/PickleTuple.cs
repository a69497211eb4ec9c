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
    private long _hashState; // 0: not computed yet; else 1 << 32 | the hash (one atomic word)

    /// <summary>A tuple of <paramref name="items"/> (the array is copied).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="items"/> is null.</exception>
    public PickleTuple(params object?[] items)
        : this(items ?? throw new ArgumentNullException(nameof(items)), owned: false)
    {
    }

    private PickleTuple(object?[] items, bool owned)
    {
        _items = owned ? items : (object?[])items.Clone();
        foreach (var item in _items)
        {
            if (item is PickleTuple t && t.Depth >= Depth)
            {
                Depth = t.Depth + 1;
            }
        }
    }

    internal static PickleTuple Own(object?[] items) => new(items, owned: true);

    /// <summary>How many tuples deep this one nests (1: no tuple inside); equality and hashing recurse that deep.</summary>
    internal int Depth { get; } = 1;

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
    /// <remarks>Computed once (a hostile pickle cannot make every dict insert rehash a big tuple).</remarks>
    public override int GetHashCode()
    {
        long state = Volatile.Read(ref _hashState);
        if (state == 0)
        {
            state = (1L << 32) | (uint)StructuralComparisons.StructuralEqualityComparer.GetHashCode(_items);
            Volatile.Write(ref _hashState, state);
        }
        return (int)state;
    }

    /// <summary>Python's repr-like text: <c>(1, 'a')</c>.</summary>
    public override string ToString() =>
        "(" + string.Join(", ", _items.Select(i => i switch { null => "None", string s => $"'{s}'", _ => i.ToString() })) + (_items.Length == 1 ? ",)" : ")");
}
