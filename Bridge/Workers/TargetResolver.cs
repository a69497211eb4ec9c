using System.Reflection;
using System.Runtime.Loader;

namespace Bridge.Workers;

/// <summary>
/// Finds the method a TASK target names (PROTOCOL.md "TASK encodings"):
/// <c>Namespace.Type.Method</c> or <c>Namespace.Type.Method@/abs/path/Assembly.dll</c>.
/// </summary>
/// <remarks>
/// <para>With an assembly path, the type is looked up in that assembly, loaded once into the default
/// context (or, when an assembly of the same name is already loaded from elsewhere, into a context of
/// its own); its directory becomes a probing directory for its dependencies. Without one, the type is
/// looked up in the loaded assemblies, then in <c>&lt;dir of Bridge.dll&gt;/&lt;dotted prefix&gt;.dll</c>
/// for each dotted prefix of the type name, longest first (<c>Bridge.Samples.Primes</c> →
/// <c>Bridge.Samples.Primes.dll</c>, <c>Bridge.Samples.dll</c>, <c>Bridge.dll</c>).</para>
/// <para>Resolved targets are cached by their target string. Used by the worker's single loop
/// thread; the assembly-resolving handler it installs is thread-safe.</para>
/// </remarks>
internal sealed class TargetResolver
{
    private readonly Dictionary<string, MethodTarget> _targets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Assembly> _byPath = new(StringComparer.Ordinal);
    private readonly List<string> _probeDirectories = [];
    private readonly object _probeLock = new();

    public TargetResolver(string? baseDirectory = null)
    {
        BaseDirectory = baseDirectory ?? DefaultBaseDirectory();
        AssemblyLoadContext.Default.Resolving += OnResolving;
    }

    /// <summary>The directory searched for assemblies named after a type's namespace (that of Bridge.dll).</summary>
    public string BaseDirectory { get; }

    /// <summary>The resolved target (cached).</summary>
    /// <exception cref="TargetNotFoundException">The assembly, the type or the method is not there (the message says what was looked for, and where).</exception>
    public MethodTarget Resolve(string target)
    {
        if (_targets.TryGetValue(target, out var resolved))
        {
            return resolved;
        }
        resolved = ResolveUncached(target);
        _targets[target] = resolved;
        return resolved;
    }

    /// <summary>Loads an assembly by path (once) and adds its directory to the probing directories.</summary>
    /// <exception cref="TargetNotFoundException">The file is missing or is not a loadable assembly.</exception>
    public Assembly LoadAssembly(string path)
    {
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (ArgumentException e)
        {
            throw new TargetNotFoundException($"bad assembly path '{path}': {e.Message}", "System.IO.FileNotFoundException", e);
        }
        if (_byPath.TryGetValue(full, out var loaded))
        {
            return loaded;
        }
        if (!File.Exists(full))
        {
            throw new TargetNotFoundException($"assembly file '{full}' does not exist", "System.IO.FileNotFoundException");
        }
        AddProbeDirectory(Path.GetDirectoryName(full)!);
        Assembly assembly;
        try
        {
            assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(full);
        }
        catch (FileLoadException)
        {
            // An assembly of the same name is already loaded from elsewhere: give this file its own context.
            assembly = LoadIsolated(full);
        }
        catch (BadImageFormatException e)
        {
            throw new TargetNotFoundException($"'{full}' is not a .NET assembly: {e.Message}", "System.BadImageFormatException", e);
        }
        _byPath[full] = assembly;
        return assembly;
    }

    private static Assembly LoadIsolated(string full)
    {
        try
        {
            return new PathLoadContext(full).LoadFromAssemblyPath(full);
        }
        catch (Exception e) when (e is FileLoadException or BadImageFormatException or IOException)
        {
            throw new TargetNotFoundException($"cannot load assembly '{full}': {e.Message}", "System.IO.FileLoadException", e);
        }
    }

    private MethodTarget ResolveUncached(string target)
    {
        string name = target;
        string? assemblyPath = null;
        int at = target.IndexOf('@');
        if (at >= 0)
        {
            name = target[..at];
            assemblyPath = target[(at + 1)..];
        }
        int dot = name.LastIndexOf('.');
        if (dot <= 0 || dot == name.Length - 1 || (assemblyPath is not null && assemblyPath.Length == 0))
        {
            throw new TargetNotFoundException(
                $"bad .NET target '{target}': expected 'Namespace.Type.Method' or 'Namespace.Type.Method@/path/Assembly.dll'");
        }
        string typeName = name[..dot];
        string methodName = name[(dot + 1)..];
        var type = assemblyPath is null ? FindType(typeName) : FindTypeIn(typeName, LoadAssembly(assemblyPath));
        var methods = type.GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name == methodName)
            .ToArray();
        if (methods.Length == 0)
        {
            var available = type.GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Where(m => !m.IsSpecialName)
                .Select(m => m.Name)
                .Distinct()
                .Order(StringComparer.Ordinal)
                .Take(20)
                .ToArray();
            throw new TargetNotFoundException(
                $"type '{type.FullName}' (assembly {type.Assembly.GetName().Name}) has no public static method '{methodName}'"
                + (available.Length > 0 ? $" (its public static methods: {string.Join(", ", available)})" : " (it has no public static methods)"));
        }
        var overloads = new List<MethodOverload>();
        var reasons = new List<string>();
        foreach (var m in methods)
        {
            var why = MethodOverload.WhyNotCallable(m);
            if (why is null)
            {
                overloads.Add(MethodOverload.Create(m, name));
            }
            else
            {
                reasons.Add($"{MethodOverload.CSharpName(m.ReturnType)} {m.Name}(…): {why}");
            }
        }
        if (overloads.Count == 0)
        {
            throw new TargetNotFoundException($"the worker cannot call {name}: {string.Join("; ", reasons)}");
        }
        return new MethodTarget(name, overloads.ToArray());
    }

    private static Type FindTypeIn(string typeName, Assembly assembly)
    {
        return assembly.GetType(typeName, throwOnError: false)
            ?? throw new TargetNotFoundException(
                $"type '{typeName}' not found in assembly '{assembly.GetName().Name}' ({assembly.Location})",
                "System.TypeLoadException");
    }

    private Type FindType(string typeName)
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (assembly.IsDynamic)
            {
                continue;
            }
            var t = assembly.GetType(typeName, throwOnError: false);
            if (t is not null)
            {
                return t;
            }
        }
        var tried = new List<string>();
        string prefix = typeName;
        int plus = prefix.IndexOf('+');
        if (plus >= 0)
        {
            prefix = prefix[..plus];
        }
        while (true)
        {
            var file = Path.Combine(BaseDirectory, prefix + ".dll");
            tried.Add(file);
            if (File.Exists(file))
            {
                var t = LoadAssembly(file).GetType(typeName, throwOnError: false);
                if (t is not null)
                {
                    return t;
                }
            }
            int dot = prefix.LastIndexOf('.');
            if (dot <= 0)
            {
                break;
            }
            prefix = prefix[..dot];
        }
        throw new TargetNotFoundException(
            $"type '{typeName}' not found in the loaded assemblies nor in {string.Join(", ", tried)}"
            + " (give the assembly as 'Namespace.Type.Method@/path/Assembly.dll', or load it with the pool's assemblies option)",
            "System.TypeLoadException");
    }

    private void AddProbeDirectory(string directory)
    {
        lock (_probeLock)
        {
            if (!_probeDirectories.Contains(directory))
            {
                _probeDirectories.Add(directory);
            }
        }
    }

    private Assembly? OnResolving(AssemblyLoadContext context, AssemblyName name)
    {
        string[] dirs;
        lock (_probeLock)
        {
            dirs = [.. _probeDirectories, BaseDirectory];
        }
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, name.Name + ".dll");
            if (File.Exists(candidate))
            {
                return context.LoadFromAssemblyPath(candidate);
            }
        }
        return null;
    }

    private static string DefaultBaseDirectory()
    {
        var location = typeof(TargetResolver).Assembly.Location;
        return string.IsNullOrEmpty(location) ? AppContext.BaseDirectory : Path.GetDirectoryName(location)!;
    }

    /// <summary>A context for one assembly whose name clashes with one already loaded; shares everything else with the default context.</summary>
    private sealed class PathLoadContext(string path) : AssemblyLoadContext($"dotbridge:{path}")
    {
        private readonly string _directory = Path.GetDirectoryName(path)!;

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            foreach (var a in Default.Assemblies)
            {
                if (AssemblyName.ReferenceMatchesDefinition(assemblyName, a.GetName()))
                {
                    return null; // already in the default context: share it (types unify)
                }
            }
            var candidate = Path.Combine(_directory, assemblyName.Name + ".dll");
            return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
        }
    }
}
