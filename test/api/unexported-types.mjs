/**
 * Types that the public declarations mention but no entry point exports: a consumer sees them in
 * signatures (hover, errors, a subclass's protected members) yet cannot import them by name.
 * Each is `entry: Symbol.member -> Type (file)`, sorted.
 */
import ts from 'typescript';
import { displayPath, exportsOf, isPackageDeclaration, isPublic, resolveAlias } from './package-api.mjs';

export function findUnexportedTypes(api) {
  const checker = api.program.getTypeChecker();
  const surfaces = api.entries.map((entry) => ({ entry, exports: exportsOf(api, entry) }));
  const exported = new Set(surfaces.flatMap(({ exports }) => exports.map(({ symbol }) => symbol)));
  const violations = new Set();

  /** The package's own symbol that `name` refers to when no entry point exports it (nor its parent). */
  const unexported = (name) => {
    const symbol = checker.getSymbolAtLocation(name);
    const target = symbol && resolveAlias(checker, symbol);
    const declarations = target?.declarations ?? [];
    // An import the consumer cannot resolve either: the type is `any` to them.
    if (declarations.length === 0) return { label: name.getText(), file: 'unresolved' };
    if (target.flags & ts.SymbolFlags.TypeParameter) return undefined;
    if (!declarations.every((node) => isPackageDeclaration(api, node))) return undefined;
    // Members of an exported class, namespace or enum (`typeof Foo.bar`, `Kind.A`) are reachable.
    for (let owner = target; owner; owner = owner.parent) if (exported.has(owner)) return undefined;
    return { label: target.name, file: displayPath(api, declarations[0].getSourceFile().fileName) };
  };

  for (const { entry, exports } of surfaces) {
    for (const { name, declarations } of exports) {
      for (const declaration of declarations.filter((node) => isPackageDeclaration(api, node))) {
        for (const [where, node] of parts(declaration, name)) {
          visit(node, (reference) => {
            const found = unexported(reference);
            if (found) violations.add(`${entry.name}: ${where} -> ${found.label} (${found.file})`);
          });
        }
      }
    }
  }
  return [...violations].sort();
}

/** The pieces of a declaration with the name a violation is reported under: members on their own. */
function parts(declaration, name) {
  if (!ts.isClassDeclaration(declaration) && !ts.isInterfaceDeclaration(declaration)) {
    return [[name, ts.isSourceFile(declaration) ? undefined : declaration]].filter(([, node]) => node);
  }
  const own = [...(declaration.typeParameters ?? []), ...(declaration.heritageClauses ?? [])];
  const members = declaration.members.filter(isPublic);
  return [...own.map((node) => [name, node]), ...members.map((member) => [`${name}.${memberName(member)}`, member])];
}

function memberName(member) {
  if (ts.isConstructorDeclaration(member)) return 'constructor';
  if (ts.isConstructSignatureDeclaration(member)) return 'new()';
  if (ts.isCallSignatureDeclaration(member)) return '()';
  if (ts.isIndexSignatureDeclaration(member)) return '[index]';
  return member.name.getText();
}

/** Calls `onReference` with each name used as a type, base class or `typeof` operand under `node`. */
function visit(node, onReference) {
  if ((ts.isClassElement(node) || ts.isTypeElement(node)) && !isPublic(node)) return;
  if (ts.isTypeReferenceNode(node)) onReference(node.typeName);
  else if (ts.isExpressionWithTypeArguments(node)) onReference(node.expression);
  else if (ts.isTypeQueryNode(node)) onReference(node.exprName);
  else if (ts.isImportTypeNode(node)) onReference(node.qualifier ?? node.argument.literal);
  else if (ts.isComputedPropertyName(node) && ts.isEntityNameExpression(node.expression)) onReference(node.expression);
  ts.forEachChild(node, (child) => visit(child, onReference));
}
