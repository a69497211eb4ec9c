using System.Globalization;
using System.Text;

namespace Bridge;

/// <summary>
/// The by-name description of a <c>dotbridge.Value</c>/<c>Array</c>/<c>RawValue</c>/<c>RawArray</c>
/// (Python: <c>dotbridge.sharedctypes.descriptor(obj)</c>): which segment, what element type, how many, which lock.
/// Text form: <c>dotbridge.shm:v1;segment=db_…;typecode=d;length=1;offset=0;lock=/db_…</c> (lock optional).
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed record SharedCTypeDescriptor
{
    private const string Prefix = "dotbridge.shm:v1";

    /// <summary>Creates a descriptor.</summary>
    /// <exception cref="ArgumentException">Unknown typecode, bad name, negative length or offset.</exception>
    public SharedCTypeDescriptor(string segment, char typecode, int length, long offset = 0, string? lockName = null)
    {
        Segment = SharedMemorySegment.NormalizeName(segment);
        if (TypecodeSize(typecode) == 0)
        {
            throw new ArgumentException($"unknown array typecode '{typecode}'", nameof(typecode));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        Typecode = typecode;
        Length = length;
        Offset = offset;
        LockName = lockName is null ? null : SharedSemaphore.NormalizeName(lockName);
    }

    /// <summary>The segment name.</summary>
    public string Segment { get; }

    /// <summary>The stdlib <c>array</c>/<c>sharedctypes</c> typecode (<c>'d'</c>, <c>'i'</c>, <c>'q'</c>, …).</summary>
    public char Typecode { get; }

    /// <summary>The number of elements (1 for a Value).</summary>
    public int Length { get; }

    /// <summary>Byte offset of the first element in the segment.</summary>
    public long Offset { get; }

    /// <summary>The lock's semaphore name, or null for a raw value/array.</summary>
    public string? LockName { get; }

    /// <summary>Bytes per element of a typecode on this platform (Linux LP64: <c>l</c> = 8, <c>u</c> = 4), 0 if unknown.</summary>
    public static int TypecodeSize(char typecode) => typecode switch
    {
        'c' or 'b' or 'B' or '?' => 1,
        'h' or 'H' => 2,
        'i' or 'I' or 'f' or 'u' => 4,
        'l' or 'L' or 'q' or 'Q' or 'd' => 8,
        _ => 0,
    };

    /// <summary>Parses the text form.</summary>
    /// <exception cref="FormatException">Not a descriptor.</exception>
    public static SharedCTypeDescriptor Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(';');
        if (parts[0] != Prefix)
        {
            throw new FormatException($"not a dotbridge shared value descriptor: '{text}'");
        }
        string? segment = null, lockName = null;
        char typecode = '\0';
        int length = -1;
        long offset = 0;
        try
        {
            foreach (var part in parts.AsSpan(1))
            {
                int eq = part.IndexOf('=');
                if (eq <= 0)
                {
                    throw new FormatException($"bad field '{part}'");
                }
                var value = part[(eq + 1)..];
                switch (part[..eq])
                {
                    case "segment": segment = value; break;
                    case "typecode": typecode = value.Length == 1 ? value[0] : throw new FormatException($"bad typecode '{value}'"); break;
                    case "length": length = int.Parse(value, CultureInfo.InvariantCulture); break;
                    case "offset": offset = long.Parse(value, CultureInfo.InvariantCulture); break;
                    case "lock": lockName = value.Length == 0 ? null : value; break;
                    default: break; // unknown fields are ignored (forward compatible)
                }
            }
            if (segment is null || typecode == '\0' || length < 0)
            {
                throw new FormatException("segment, typecode and length are required");
            }
            return new SharedCTypeDescriptor(segment, typecode, length, offset, lockName);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"bad dotbridge shared value descriptor '{text}': {e.Message}", e);
        }
        catch (OverflowException e)
        {
            throw new FormatException($"bad dotbridge shared value descriptor '{text}': {e.Message}", e);
        }
    }

    /// <summary>The text form (what Python's <c>descriptor()</c> returns and <c>sharedctypes.open()</c> accepts).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(Prefix)
            .Append(";segment=").Append(Segment)
            .Append(";typecode=").Append(Typecode)
            .Append(";length=").Append(Length.ToString(CultureInfo.InvariantCulture))
            .Append(";offset=").Append(Offset.ToString(CultureInfo.InvariantCulture));
        if (LockName is not null)
        {
            sb.Append(";lock=").Append(LockName);
        }
        return sb.ToString();
    }

    internal static unsafe void CheckElementType<T>(char typecode)
        where T : unmanaged
    {
        bool isFloat = typecode is 'f' or 'd';
        bool tIsFloat = typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half);
        if (TypecodeSize(typecode) != sizeof(T) || isFloat != tIsFloat)
        {
            throw new ArgumentException($"typecode '{typecode}' ({TypecodeSize(typecode)}-byte {(isFloat ? "float" : "integer")}) does not match {typeof(T).Name}");
        }
    }

    internal static char TypecodeOf<T>()
        where T : unmanaged =>
        typeof(T) == typeof(double) ? 'd' :
        typeof(T) == typeof(float) ? 'f' :
        typeof(T) == typeof(long) ? 'q' :
        typeof(T) == typeof(ulong) ? 'Q' :
        typeof(T) == typeof(int) ? 'i' :
        typeof(T) == typeof(uint) ? 'I' :
        typeof(T) == typeof(short) ? 'h' :
        typeof(T) == typeof(ushort) ? 'H' :
        typeof(T) == typeof(sbyte) ? 'b' :
        typeof(T) == typeof(byte) ? 'B' :
        typeof(T) == typeof(bool) ? '?' :
        throw new ArgumentException($"{typeof(T).Name} has no sharedctypes typecode");
}
