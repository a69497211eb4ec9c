namespace Bridge.Compiler;

/// <summary>What <see cref="KernelCompiler.Compile"/> produced.</summary>
/// <param name="Success">True when there was no error and <paramref name="Image"/> holds the assembly.</param>
/// <param name="Diagnostics">Errors and warnings, in source order.</param>
/// <param name="Image">The assembly (PE image with an embedded portable PDB), or null on failure.</param>
/// <param name="Types">The public types with public static methods (empty on failure).</param>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed record CompileResult(
    bool Success, IReadOnlyList<KernelDiagnostic> Diagnostics, byte[]? Image, IReadOnlyList<KernelType> Types);
