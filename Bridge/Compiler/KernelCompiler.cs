using System.Collections.Immutable;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Emit;
using Microsoft.CodeAnalysis.Text;

namespace Bridge.Compiler;

/// <summary>Compiles an inline C# kernel (one source string) into an in-memory assembly with Roslyn.</summary>
/// <remarks>
/// <para>Design notes. The user's source is compiled unchanged as its own syntax tree, so every
/// diagnostic's line and column are positions in the string the user wrote. The implicit usings
/// (<see cref="ImplicitUsings"/>) live in a second tree as <c>global using</c> directives rather than
/// prepended lines: nothing needs shifting, and a user's own <c>using System;</c> is not an error.</para>
/// <para>Options: Release optimization, unsafe code allowed, nullable annotations disabled, latest
/// language version, deterministic output (two processes compiling the same source write the same
/// bytes). References: the running framework's assemblies (from <c>TRUSTED_PLATFORM_ASSEMBLIES</c>,
/// restricted to the shared framework directory) plus the caller's.</para>
/// <para>Thread-safety: <see cref="Compile"/> is safe to call from several threads.</para>
/// </remarks>
public static class KernelCompiler
{
    /// <summary>Namespaces imported into every kernel.</summary>
    public static readonly ImmutableArray<string> ImplicitUsings =
        ["System", "System.Linq", "System.Collections.Generic", "System.Numerics", "System.Threading.Tasks"];

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_frameworkReferences = new(LoadFrameworkReferences);

    /// <summary>Compiles <paramref name="source"/> into an assembly named <paramref name="assemblyName"/>.</summary>
    /// <param name="source">The C# source, as the user wrote it.</param>
    /// <param name="references">Paths of extra assemblies to reference.</param>
    /// <param name="assemblyName">The simple name of the produced assembly (unique per kernel).</param>
    /// <param name="sourcePath">The file name recorded in the PDB (shows in .NET stack traces).</param>
    /// <returns>The diagnostics and, on success, the image and the callable methods.</returns>
    /// <exception cref="FileNotFoundException">A reference does not exist.</exception>
    public static CompileResult Compile(
        string source, IReadOnlyList<string> references, string assemblyName, string sourcePath = "inline.cs")
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(references);
        ArgumentException.ThrowIfNullOrEmpty(assemblyName);

        var parseOptions = new CSharpParseOptions(LanguageVersion.Latest);
        var userTree = CSharpSyntaxTree.ParseText(
            SourceText.From(source, System.Text.Encoding.UTF8), parseOptions, sourcePath);
        var usingsTree = CSharpSyntaxTree.ParseText(
            SourceText.From(string.Concat(ImplicitUsings.Select(u => $"global using {u};\n")), System.Text.Encoding.UTF8),
            parseOptions, "implicit-usings.cs");

        var refs = new List<MetadataReference>(s_frameworkReferences.Value);
        foreach (var path in references)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"reference not found: {path}", path);
            refs.Add(MetadataReference.CreateFromFile(Path.GetFullPath(path)));
        }

        var options = new CSharpCompilationOptions(
            OutputKind.DynamicallyLinkedLibrary,
            optimizationLevel: OptimizationLevel.Release,
            allowUnsafe: true,
            nullableContextOptions: NullableContextOptions.Disable,
            deterministic: true,
            concurrentBuild: true);
        var compilation = CSharpCompilation.Create(assemblyName, [usingsTree, userTree], refs, options);

        using var pe = new MemoryStream();
        EmitResult emitted = compilation.Emit(
            pe, options: new EmitOptions(debugInformationFormat: DebugInformationFormat.Embedded));

        var diagnostics = emitted.Diagnostics
            .Where(d => d.Severity is DiagnosticSeverity.Error or DiagnosticSeverity.Warning)
            // errors from anywhere (never fail silently); warnings only where the user can act on them
            .Where(d => d.Severity == DiagnosticSeverity.Error
                        || d.Location.SourceTree is null || d.Location.SourceTree == userTree)
            .OrderBy(d => d.Location.SourceSpan.Start)
            .Select(d => ToKernelDiagnostic(d, userTree))
            .ToList();

        if (!emitted.Success)
            return new CompileResult(false, diagnostics, null, []);
        return new CompileResult(true, diagnostics, pe.ToArray(), CollectTypes(compilation.Assembly.GlobalNamespace));
    }

    private static KernelDiagnostic ToKernelDiagnostic(Diagnostic d, SyntaxTree userTree)
    {
        var severity = d.Severity == DiagnosticSeverity.Error ? "error" : "warning";
        var message = d.GetMessage(CultureInfo.InvariantCulture);
        if (!d.Location.IsInSource || d.Location.SourceTree != userTree)
            return new KernelDiagnostic(d.Id, severity, message, 0, 0, 0, 0);
        // GetLineSpan, not GetMappedLineSpan: positions in the string the user passed, whatever #line says.
        var span = d.Location.GetLineSpan();
        return new KernelDiagnostic(d.Id, severity, message,
            span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1,
            span.EndLinePosition.Line + 1, span.EndLinePosition.Character + 1);
    }

    private static List<KernelType> CollectTypes(INamespaceSymbol root)
    {
        var result = new List<KernelType>();
        var pending = new Stack<INamespaceOrTypeSymbol>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            switch (pending.Pop())
            {
                case INamespaceSymbol ns:
                    foreach (var member in ns.GetMembers())
                        pending.Push(member);
                    break;
                case INamedTypeSymbol type when type.DeclaredAccessibility == Accessibility.Public
                                                && !type.IsGenericType && !type.IsImplicitlyDeclared:
                    var methods = type.GetMembers().OfType<IMethodSymbol>()
                        .Where(m => m.IsStatic && m.DeclaredAccessibility == Accessibility.Public
                                    && m.MethodKind == MethodKind.Ordinary && !m.IsGenericMethod)
                        .Select(m => m.Name).Distinct().Order(StringComparer.Ordinal).ToList();
                    if (methods.Count > 0)
                        result.Add(new KernelType(ReflectionName(type), methods));
                    foreach (var nested in type.GetTypeMembers())
                        pending.Push(nested);
                    break;
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    private static string ReflectionName(INamedTypeSymbol type)
    {
        if (type.ContainingType is { } outer)
            return ReflectionName(outer) + "+" + type.MetadataName;
        var ns = type.ContainingNamespace;
        return ns is null || ns.IsGlobalNamespace ? type.MetadataName : ns.ToDisplayString() + "." + type.MetadataName;
    }

    private static ImmutableArray<MetadataReference> LoadFrameworkReferences()
    {
        // The shared framework this process runs on is the one the .NET worker runs on (same runtimeconfig).
        var frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)
                           ?? throw new InvalidOperationException("cannot locate the .NET framework directory");
        var tpa = (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var builder = ImmutableArray.CreateBuilder<MetadataReference>();
        foreach (var path in tpa)
        {
            if (string.Equals(Path.GetDirectoryName(path), frameworkDir, StringComparison.Ordinal)
                && path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                builder.Add(MetadataReference.CreateFromFile(path));
        }
        if (builder.Count == 0) // single-file or unusual hosts: fall back to the directory itself
        {
            foreach (var path in Directory.EnumerateFiles(frameworkDir, "*.dll"))
                builder.Add(MetadataReference.CreateFromFile(path));
        }
        return builder.ToImmutable();
    }
}
