using System.Diagnostics.CodeAnalysis;

namespace Bridge.Interop.Internal;

internal static class ThrowHelper
{
    /// <summary>Fetches the pending Python error (GIL held) and throws it as a <see cref="PythonException"/>.</summary>
    [DoesNotReturn]
    internal static void ThrowPythonError() => throw PythonException.FetchPending();

    [DoesNotReturn]
    internal static T ThrowPythonError<T>() => throw PythonException.FetchPending();

    [DoesNotReturn]
    internal static void ThrowCannotConvert(nint pyObject, Type target, string? detail = null, Exception? inner = null)
        => throw new PythonConversionException(Converter.TypeName(pyObject), target, detail, inner);

    [DoesNotReturn]
    internal static void ThrowCannotConvertToPython(Type source)
        => throw new PythonConversionException(null, source, "no conversion from this .NET type to Python (pass a PyObject instead)");
}
