import { createProblem } from '../../problems.js';

export const OperationNotFound = createProblem<[operationId: string]>({
  code: 'TTM_OPERATION_NOT_FOUND',
  status: 404,
  type: 'https://ttm.dev/problems/operation-not-found',
  title: 'Operation not found',
  detail: 'no operation has the id %s (an operation just accepted shows up within seconds; check the id)',
});
