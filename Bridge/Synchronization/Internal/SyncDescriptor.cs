namespace Bridge.Internal;

/// <summary>
/// The text form the cross-language synchronization objects are opened by:
/// <c>dotbridge.&lt;kind&gt;:v1;key=value;…</c> (unknown keys are ignored, as in the shm descriptor).
/// </summary>
internal static class SyncDescriptor
{
    /// <summary>Splits <paramref name="text"/> into its fields after checking the prefix.</summary>
    /// <exception cref="FormatException">The prefix is not <paramref name="prefix"/>.</exception>
    public static Dictionary<string, string> Parse(string text, string prefix, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(';');
        if (parts[0] != prefix)
        {
            throw new FormatException($"not a dotbridge {what} descriptor: '{text}'");
        }
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in parts.AsSpan(1))
        {
            int eq = part.IndexOf('=');
            if (eq > 0)
            {
                fields[part[..eq]] = part[(eq + 1)..];
            }
        }
        return fields;
    }

    /// <summary>The value of a required field.</summary>
    /// <exception cref="FormatException">The field is missing or empty.</exception>
    public static string Required(Dictionary<string, string> fields, string key, string text, string what)
    {
        if (!fields.TryGetValue(key, out var value) || value.Length == 0)
        {
            throw new FormatException($"{what} descriptor lacks '{key}': '{text}'");
        }
        return value;
    }

    /// <summary>A <see cref="TimeSpan"/>? timeout as the sem_timedwait loop wants it: null for ever, negative as zero (Python's SemLock does the same).</summary>
    public static TimeSpan Normalize(TimeSpan? timeout) =>
        timeout is not { } t || t == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan
        : t < TimeSpan.Zero ? TimeSpan.Zero
        : t;
}
