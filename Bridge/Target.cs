using System.Diagnostics.CodeAnalysis;

namespace Bridge;

/// <summary>
/// What a <see cref="ProcessPool"/> call runs: a Python callable (<c>"package.module:qualname"</c>,
/// run in a Python worker) or a public static .NET method (<c>"Namespace.Type.Method"</c>, run in a
/// .NET worker).
/// </summary>
/// <remarks>
/// <para>Design choice: one <see cref="Target"/> type for both kinds, so every pool method
/// (<see cref="ProcessPool.ApplyAsync{TResult}(Target, object?[])"/>, <c>MapAsync</c>, ...) exists
/// once and works for both. A string converts implicitly to a Python target, so
/// <c>pool.ApplyAsync&lt;long&gt;("calc:add", 1, 2)</c> calls Python; .NET methods are named
/// explicitly with <see cref="DotNetMethod.Of(string)"/> (or <see cref="DotNet(string)"/>), so
/// nothing is ever guessed from the shape of a name.</para>
/// <para>The name is checked when the target is created (<see cref="ArgumentException"/>); whether
/// the callable exists is only known when a worker resolves it (a
/// <see cref="RemoteInvocationException"/> with <see cref="RemoteInvocationException.Kind"/>
/// <c>"target"</c>). Immutable; thread-safe.</para>
/// </remarks>
public sealed class Target : IEquatable<Target>
{
    private Target(TargetKind kind, string name)
    {
        Kind = kind;
        Name = name;
    }

    /// <summary>The kind of worker that runs this target.</summary>
    public TargetKind Kind { get; }

    /// <summary>The target as the wire protocol names it: <c>"pkg.mod:func"</c> or <c>"Ns.Type.Method[@/abs/Assembly.dll]"</c>.</summary>
    public string Name { get; }

    /// <summary>A Python callable: <c>"package.module:qualname"</c> (dots allowed in the qualname), or a builtin such as <c>"builtins:pow"</c>.</summary>
    /// <param name="name">The module and the callable's qualified name, separated by one colon.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not of the form <c>module:qualname</c>.</exception>
    public static Target Python(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int colon = name.IndexOf(':');
        if (colon <= 0 || colon == name.Length - 1 || name.IndexOf(':', colon + 1) >= 0 || name.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException(
                $"'{name}' is not a Python target: expected \"package.module:qualname\" (for example \"math:sqrt\" or \"mypkg.calc:add\").",
                nameof(name));
        }
        return new Target(TargetKind.Python, name);
    }

    /// <summary>A public static .NET method: <c>"Namespace.Type.Method"</c>, optionally followed by <c>"@/abs/path/Assembly.dll"</c>.</summary>
    /// <param name="name">The method's full name, optionally with the assembly path after an <c>@</c>.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> has no type part, or the assembly path is not absolute.</exception>
    public static Target DotNet(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int at = name.IndexOf('@');
        string method = at < 0 ? name : name[..at];
        int dot = method.LastIndexOf('.');
        if (dot <= 0 || dot == method.Length - 1 || method.Any(char.IsWhiteSpace) || method.Contains(':'))
        {
            throw new ArgumentException(
                $"'{name}' is not a .NET method target: expected \"Namespace.Type.Method\" (for example \"Bridge.Samples.Primes.Count\").",
                nameof(name));
        }
        if (at >= 0 && !Path.IsPathFullyQualified(name[(at + 1)..]))
        {
            throw new ArgumentException($"'{name}': the assembly path after '@' must be absolute.", nameof(name));
        }
        return new Target(TargetKind.DotNet, name);
    }

    /// <summary>Converts a string to a Python target (<see cref="Python(string)"/>).</summary>
    /// <exception cref="ArgumentException">The string is not of the form <c>module:qualname</c>.</exception>
    [return: NotNullIfNotNull(nameof(name))]
    public static implicit operator Target?(string? name) => name is null ? null : Python(name);

    /// <inheritdoc/>
    public bool Equals(Target? other) => other is not null && other.Kind == Kind && other.Name == Name;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Target);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, Name);

    /// <summary><c>python:pkg.mod:func</c> or <c>dotnet:Ns.Type.Method</c>.</summary>
    public override string ToString() => (Kind == TargetKind.Python ? "python:" : "dotnet:") + Name;
}
