namespace Bridge.Compiler;

/// <summary>One compiler diagnostic, positioned in the user's source string.</summary>
/// <param name="Id">Roslyn's id, e.g. <c>CS1002</c>.</param>
/// <param name="Severity"><c>"error"</c> or <c>"warning"</c>.</param>
/// <param name="Message">The diagnostic's message (invariant culture).</param>
/// <param name="Line">1-based line in the user's source; 0 when the diagnostic has no source location.</param>
/// <param name="Column">1-based column (UTF-16 code units) in the user's source; 0 when there is no location.</param>
/// <param name="EndLine">1-based end line; 0 when there is no location.</param>
/// <param name="EndColumn">1-based end column (exclusive); 0 when there is no location.</param>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed record KernelDiagnostic(
    string Id, string Severity, string Message, int Line, int Column, int EndLine, int EndColumn);
