namespace Bridge;

/// <summary>
/// A value could not be converted between MessagePack and .NET (Bridge/PROTOCOL.md "Values"):
/// a MessagePack value does not fit the .NET type wanted (wrong kind, integer out of range,
/// nesting too deep), or a .NET object has no MessagePack form.
/// </summary>
/// <remarks>
/// The message names the MessagePack type found and the .NET type wanted, for example
/// <c>cannot convert str to Int64</c> or <c>cannot convert int 300 to Byte: out of range</c>,
/// followed by the position inside the value when the failure is nested (<c>at [2]["k"]</c>).
/// </remarks>
public sealed class ValueConversionException : Exception
{
    private readonly string _detail;

    /// <summary>Creates an exception with a complete message.</summary>
    public ValueConversionException(string message)
        : this(message, null, null, "")
    {
    }

    /// <summary>Creates an exception with a complete message and an inner exception.</summary>
    public ValueConversionException(string message, Exception? innerException)
        : base(message, innerException)
    {
        _detail = message;
        Path = "";
    }

    internal ValueConversionException(string detail, string? messagePackType, Type? targetType, string path, Exception? inner = null)
        : base(path.Length == 0 ? detail : $"{detail} at {path}", inner)
    {
        _detail = detail;
        MessagePackType = messagePackType;
        TargetType = targetType;
        Path = path;
    }

    /// <summary>The MessagePack type found (<c>str</c>, <c>int</c>, <c>ext 2 (float64 array)</c>, …), when reading.</summary>
    public string? MessagePackType { get; }

    /// <summary>The .NET type wanted when reading, or the type that could not be written.</summary>
    public Type? TargetType { get; }

    /// <summary>Where inside the value the failure happened (<c>[2]["key"]</c>); empty at the top.</summary>
    public string Path { get; }

    /// <summary>The same failure seen from one level further out: <paramref name="step"/> is prepended to <see cref="Path"/>.</summary>
    internal ValueConversionException Within(string step) =>
        new(_detail, MessagePackType, TargetType, step + Path, InnerException);
}
