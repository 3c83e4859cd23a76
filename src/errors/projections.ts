/** Errors of projections: names, versions, tables and read-schema objects. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

export class DuplicateProjectionError extends EventlaneError {
  constructor(name: string) {
    super(
      ErrorCodes.DUPLICATE_PROJECTION,
      `Two projections are named ${JSON.stringify(name)}. Projection names key their tables, versions and ` +
        'checkpoints: give each projection its own name.',
      { details: { name } },
    );
  }
}

export class ProjectionVersionError extends EventlaneError {
  constructor(name: string, version: number, registered: number) {
    super(
      ErrorCodes.PROJECTION_VERSION,
      `Projection ${JSON.stringify(name)} is defined at version ${version}, but the database already has version ` +
        `${registered}. Versions only go up: to return to older logic, release it as version ${registered + 1}.`,
      { details: { name, version, registered } },
    );
  }
}

export class ProjectionTableClashError extends EventlaneError {
  constructor(table: string, name: string, owner: string) {
    super(
      ErrorCodes.PROJECTION_TABLE_CLASH,
      `Projection ${JSON.stringify(name)} declares table ${JSON.stringify(table)}, which projection ` +
        `${JSON.stringify(owner)} already owns. Rename the table, or retire ${JSON.stringify(owner)} first.`,
      { details: { table, name, owner } },
    );
  }
}

export class ProjectionObjectTakenError extends EventlaneError {
  constructor(name: string, schema: string, object: string, kind: string, role: string) {
    const where = `${schema}.${object}`;
    super(
      ErrorCodes.PROJECTION_OBJECT_TAKEN,
      `Projection ${JSON.stringify(name)} needs ${JSON.stringify(where)} for its ${role}, but a ${kind} of that ` +
        'name exists that eventlane did not create; it was left untouched. Rename the projection’s table, give ' +
        `createProjections another \`schema\`, or drop or rename ${JSON.stringify(where)} if it is no longer needed.`,
      { details: { name, schema, object, kind } },
    );
  }
}
