/**
 * Type-checks the TypeScript code blocks of Markdown files with the TypeScript compiler API, so that an example in
 * README.md or docs/ that no longer compiles fails the tests.
 *
 * Rules a Markdown author can use:
 * - every ```ts or ```typescript block is checked as a module of its own (top-level `await` allowed), with the
 *   project's tsconfig settings; `eventlane` and its subpaths (`eventlane/testing`, `eventlane/nats`, …) resolve to
 *   the sources in src/, through package.json's `exports`;
 * - ```ts continue: the block continues the module of the block before it in the same file (a guide that builds
 *   one example up step by step);
 * - an HTML comment `<!-- ts-prelude … -->` right before a block (blank lines allowed between) is code put before
 *   the block and not shown when the Markdown is rendered: the declarations a fragment needs
 *   (`declare const store: EventStore;`);
 * - ```ts no-check: not checked at all (fragments that cannot be made to compile); such blocks are counted and listed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface CodeBlock {
  /** The Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the block's first code line in the Markdown file. */
  line: number;
  code: string;
  /** Code of the `<!-- ts-prelude … -->` comment before the block, '' when none. */
  prelude: string;
  flags: ReadonlySet<string>;
}

export interface BlockDiagnostic {
  file: string;
  /** The Markdown line the diagnostic points at (a prelude's diagnostics point at the block's first line). */
  line: number;
  message: string;
}

export interface CheckResult {
  /** Modules type-checked (a block with `continue` joins the one before it). */
  checked: number;
  blocks: number;
  skipped: CodeBlock[];
  diagnostics: BlockDiagnostic[];
}

const TS_LANGS = new Set(['ts', 'typescript']);
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/;
const PRELUDE_START = '<!-- ts-prelude';

/** Every ```ts / ```typescript block of one Markdown text, in order. */
export function extractBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const open = FENCE.exec(lines[i]!);
    if (!open) {
      i++;
      continue;
    }
    const [, indent = '', fence = '', lang = '', rest = ''] = open;
    let end = i + 1;
    while (end < lines.length) {
      const close = lines[end]!.trim();
      if (close.startsWith(fence) && close.replaceAll(fence[0]!, '') === '') break;
      end++;
    }
    if (TS_LANGS.has(lang.toLowerCase())) {
      const body = lines
        .slice(i + 1, end)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()))
        .join('\n');
      blocks.push({
        file,
        line: i + 2,
        code: body,
        prelude: preludeBefore(lines, i),
        flags: new Set(rest.trim().split(/\s+/).filter(Boolean)),
      });
    }
    i = end + 1;
  }
  return blocks;
}

/** The code of a `<!-- ts-prelude … -->` comment that ends just before line `fenceIndex` (blank lines between). */
function preludeBefore(lines: string[], fenceIndex: number): string {
  let j = fenceIndex - 1;
  while (j >= 0 && lines[j]!.trim() === '') j--;
  if (j < 0 || !lines[j]!.trim().endsWith('-->')) return '';
  let start = j;
  while (start >= 0 && !lines[start]!.trimStart().startsWith('<!--')) start--;
  if (start < 0 || !lines[start]!.trimStart().startsWith(PRELUDE_START)) return '';
  const text = lines.slice(start, j + 1).join('\n');
  return text.slice(text.indexOf(PRELUDE_START) + PRELUDE_START.length, text.lastIndexOf('-->'));
}

interface Segment {
  block: CodeBlock;
  /** 0-based line in the module where the block's own code starts; lines before it are its prelude. */
  firstLine: number;
  lineCount: number;
}

interface Module {
  fileName: string;
  text: string;
  segments: Segment[];
}

/** `paths` sending `eventlane` and each subpath of package.json's `exports` to its source file in src/. */
function eventlanePaths(root: string): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, { types?: string } | string>;
  };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const types = typeof target === 'string' ? undefined : target.types;
    if (!types?.startsWith('./dist/')) continue;
    const source = path.join(root, 'src', types.slice('./dist/'.length).replace(/\.d\.ts$/, '.ts'));
    paths[subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`] = [source];
  }
  return paths;
}

function compilerOptions(root: string): ts.CompilerOptions {
  const configPath = path.join(root, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f));
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root, undefined, configPath);
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    paths: eventlanePaths(root),
  };
}

function buildModules(root: string, blocks: CodeBlock[]): { modules: Module[]; skipped: CodeBlock[] } {
  const modules: Module[] = [];
  const skipped: CodeBlock[] = [];
  let previous: { file: string; module: Module } | undefined;
  for (const block of blocks) {
    if (block.flags.has('no-check')) {
      skipped.push(block);
      continue;
    }
    const joins = block.flags.has('continue') && previous?.file === block.file;
    let module: Module;
    if (joins) {
      module = previous!.module;
    } else {
      // .mts: always a module (its own scope, top-level await) whatever it contains.
      const fileName = path.join(root, 'test/docs/.blocks', `${block.file}.L${block.line}.mts`);
      module = { fileName, text: '', segments: [] };
      modules.push(module);
    }
    const prelude = block.prelude.replace(/^\n+|\n+$/g, '');
    const preludeText = prelude === '' ? '' : `${prelude}\n`;
    const before = module.text === '' ? 0 : module.text.split('\n').length;
    const preludeLines = preludeText === '' ? 0 : prelude.split('\n').length;
    module.text += (module.text === '' ? '' : '\n') + preludeText + block.code;
    module.segments.push({
      block,
      firstLine: before + preludeLines,
      lineCount: block.code.split('\n').length,
    });
    previous = { file: block.file, module };
  }
  return { modules, skipped };
}

function locate(module: Module, line: number): { file: string; line: number } {
  for (let s = module.segments.length - 1; s >= 0; s--) {
    const segment = module.segments[s]!;
    const preludeStart = s === 0 ? 0 : module.segments[s - 1]!.firstLine + module.segments[s - 1]!.lineCount;
    if (line >= preludeStart) {
      const offset = Math.max(0, line - segment.firstLine);
      return { file: segment.block.file, line: segment.block.line + offset };
    }
  }
  const first = module.segments[0]!.block;
  return { file: first.file, line: first.line };
}

/** Type-checks every block of `markdown` (file name relative to `root` → its text) in one Program. */
export function checkMarkdown(root: string, markdown: ReadonlyMap<string, string>): CheckResult {
  const blocks = [...markdown].flatMap(([file, text]) => extractBlocks(file, text));
  const { modules, skipped } = buildModules(root, blocks);
  const options = compilerOptions(root);
  const virtual = new Map(modules.map((m) => [path.normalize(m.fileName), m]));
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const module = virtual.get(path.normalize(fileName));
    if (module) return ts.createSourceFile(fileName, module.text, languageVersion, true);
    return getSourceFile(fileName, languageVersion, onError, shouldCreate);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => virtual.has(path.normalize(fileName)) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => virtual.get(path.normalize(fileName))?.text ?? readFile(fileName);

  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });
  const diagnostics: BlockDiagnostic[] = [];
  for (const module of modules) {
    const sourceFile = program.getSourceFile(module.fileName);
    if (!sourceFile) throw new Error(`the compiler lost ${module.fileName}`);
    const found = [
      ...program.getSyntacticDiagnostics(sourceFile),
      ...program.getSemanticDiagnostics(sourceFile),
    ];
    for (const d of found) {
      const at = d.start === undefined ? 0 : sourceFile.getLineAndCharacterOfPosition(d.start).line;
      diagnostics.push({
        ...locate(module, at),
        message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      });
    }
  }
  return { checked: modules.length, blocks: blocks.length, skipped, diagnostics };
}
