namespace Bridge.Protocol;

/// <summary>
/// A frame broke the wire protocol (PROTOCOL.md "Framing"): a bad length, a body that is not one
/// complete MessagePack array, trailing bytes, nesting beyond the depth limit, an unknown kind or a
/// malformed envelope. The reader that throws it closes that connection.
/// </summary>
internal sealed class ProtocolException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProtocolException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
